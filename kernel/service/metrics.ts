/**
 * Prometheus metrics (prom-client): syscalls by name and decision, syscall
 * and evaluate latency, processes by state, pending approvals, signals by
 * name and outcome, and Node's default process metrics.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { DecisionInput, DecisionRecorder } from '../../syscalls/context.ts';
import type { Kernel } from '../kernel.ts';

export class Metrics {
  readonly registry = new Registry();
  readonly syscalls = new Counter({ name: 'agentk_syscalls_total', help: 'Syscall decisions by syscall and decision', labelNames: ['syscall', 'decision'] as const, registers: [this.registry] });
  readonly syscallSeconds = new Histogram({
    name: 'agentk_syscall_duration_seconds',
    help: 'Time from a syscall entering ring 0 to its reply (blocked calls excluded)',
    labelNames: ['syscall'] as const,
    buckets: [1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 1e-3, 1e-2],
    registers: [this.registry],
  });
  readonly evaluateSeconds = new Histogram({
    name: 'agentk_evaluate_duration_seconds',
    help: 'Time to decide and record an external evaluate request',
    buckets: [1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 5e-2],
    registers: [this.registry],
  });
  readonly signals = new Counter({ name: 'agentk_signals_total', help: 'Signals sent, by signal and outcome', labelNames: ['signal', 'outcome'] as const, registers: [this.registry] });
  readonly unauthorized = new Counter({ name: 'agentk_http_unauthorized_total', help: 'Requests refused for a missing or wrong token', registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** watch adds the gauges that read kernel state at scrape time, and counts signals. */
  watch(kernel: Kernel): void {
    this.registry.registerMetric(
      new Gauge({
      name: 'agentk_processes',
      help: 'Processes by state',
      labelNames: ['state'] as const,
      registers: [],
      collect() {
        const counts: Record<string, number> = { running: 0, blocked: 0, stopped: 0, exited: 0 };
        for (const p of kernel.ps()) counts[p.state] = (counts[p.state] ?? 0) + 1;
        for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
        },
      }),
    );
    this.registry.registerMetric(
      new Gauge({
        name: 'agentk_pending_approvals',
        help: 'Approvals waiting for an answer',
        registers: [],
        collect() {
          this.set(kernel.approvals.list().length);
        },
      }),
    );
    kernel.bus.subscribe((e) => this.signals.inc({ signal: e.signal, outcome: e.outcome }));
  }

  /** counting wraps a recorder so every decision is counted. */
  counting(inner: DecisionRecorder): DecisionRecorder {
    const syscalls = this.syscalls;
    return {
      record(entry: DecisionInput): number {
        const seq = inner.record(entry);
        if (entry.type === 'syscall') syscalls.inc({ syscall: entry.syscall, decision: entry.effect });
        return seq;
      },
      ...(inner.whenWritten ? { whenWritten: (seq: number) => inner.whenWritten!(seq) } : {}),
      ...(inner.beforeAction ? { beforeAction: (seq: number) => inner.beforeAction!(seq) } : {}),
    };
  }
}
