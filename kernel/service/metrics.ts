/**
 * Prometheus metrics (prom-client): syscalls by name and decision, evaluate
 * decisions by decision, syscall and evaluate latency, processes by state, pending approvals, signals by
 * name and outcome, the trace export's lost batches and worker restarts
 * (with a `telemetry:` section), and Node's default process metrics.
 */
import { observed } from '../recorder/observed.ts';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { DecisionRecorder } from '../../syscalls/records.ts';
import { shownBreaker } from '../../syscalls/context.ts';
import type { Kernel } from '../kernel.ts';
import { OtelTelemetry } from '../telemetry/otel.ts';

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
  /** Evaluate decisions by decision only: an action is the caller's text, so it is no label (it would let a caller grow the series without bound). */
  readonly evaluations = new Counter({ name: 'agentk_evaluate_decisions_total', help: 'External evaluate decisions by decision', labelNames: ['decision'] as const, registers: [this.registry] });
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
        name: 'agentk_trust',
        help: 'Trust score (0-1000) of each agent below 1000: denials, violations and refused approvals lower it, clean time restores it',
        labelNames: ['agent'] as const,
        registers: [],
        collect() {
          this.reset();
          for (const [agent, score] of kernel.trust.lowered()) this.set({ agent }, score);
        },
      }),
    );
    this.registry.registerMetric(
      new Gauge({
        name: 'agentk_shadow_decisions',
        help: 'Decisions also made under the shadow policy since it was set (absent: no shadow)',
        labelNames: ['shadow'] as const,
        registers: [],
        collect() {
          this.reset();
          const shadow = kernel.shadow?.summary();
          if (shadow !== undefined) this.set({ shadow: shadow.version }, shadow.decisions);
        },
      }),
    );
    this.registry.registerMetric(
      new Gauge({
        name: 'agentk_shadow_disagreements',
        help: 'Decisions the shadow policy made otherwise since it was set, by direction (in force -> shadow, e.g. allow->deny)',
        labelNames: ['shadow', 'direction'] as const,
        registers: [],
        collect() {
          this.reset();
          const shadow = kernel.shadow?.summary();
          if (shadow === undefined) return;
          const by = new Map<string, number>();
          for (const g of shadow.groups) by.set(g.direction, (by.get(g.direction) ?? 0) + g.count);
          for (const [direction, count] of by) this.set({ shadow: shadow.version, direction }, count);
        },
      }),
    );
    this.registry.registerMetric(
      new Gauge({
        name: 'agentk_breakers_open',
        help: 'Circuit breakers open (1) or half-open (0.5), by agent and tool: its calls of the tool are refused until the cool-down',
        labelNames: ['agent', 'key'] as const,
        registers: [],
        collect() {
          this.reset();
          for (const b of kernel.breakers.open()) {
            const shown = shownBreaker(b.agentId, b.key);
            this.set({ agent: shown.agentId, key: shown.key }, b.state === 'open' ? 1 : 0.5);
          }
        },
      }),
    );
    this.registry.registerMetric(
      new Gauge({
        name: 'agentk_sandbox_host_agents',
        help: 'Agents on each sandbox host process, by host id and state (ready, starting, draining: quarantined and ending once its agents have); absent: isolates run in agentd itself',
        labelNames: ['host', 'state'] as const,
        registers: [],
        collect() {
          this.reset();
          for (const h of kernel.hosts?.info() ?? []) this.set({ host: String(h.id), state: h.state }, h.agents);
        },
      }),
    );
    this.registry.registerMetric(
      new Gauge({
        name: 'agentk_sandbox_host_served_syscalls',
        help: 'Syscalls each live sandbox host process ran itself under the kernel\'s leases (each still recorded in the decision log), since it started, by host id',
        labelNames: ['host'] as const,
        registers: [],
        collect() {
          this.reset();
          for (const h of kernel.hosts?.info() ?? []) this.set({ host: String(h.id) }, h.served);
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
    // What ring 0 accounts to each agent, read at scrape time: tree figures summed over the agent's live trees
    // (each tree once), file figures once per agent (its processes share one VFS tree).
    type Tree = NonNullable<ReturnType<Kernel['ps']>[number]['tree']>;
    const perAgent = (name: string, help: string, value: (t: Tree) => number, scope: 'tree' | 'agent' = 'tree') =>
      this.registry.registerMetric(
        new Gauge({
          name,
          help,
          labelNames: ['agent'] as const,
          registers: [],
          collect() {
            this.reset();
            const sums = new Map<string, number>();
            const counted = new Set<string>();
            for (const p of kernel.ps()) {
              if (p.tree === undefined || p.state === 'exited') continue;
              const key = scope === 'tree' ? `${p.agentId}\u0000${p.tree.root}` : p.agentId;
              if (counted.has(key)) continue;
              counted.add(key);
              sums.set(p.agentId, (sums.get(p.agentId) ?? 0) + value(p.tree));
            }
            for (const [agent, v] of sums) this.set({ agent }, v);
          },
        }),
      );
    perAgent('agentk_agent_cpu_seconds', "CPU time of the agent's live process trees: isolates and the kernel's work for them", (t) => t.cpuMs / 1000);
    perAgent('agentk_agent_kernel_cpu_seconds', "The kernel's own time for the agent's live trees (syscalls, matching, hashing, copying, fingerprinting)", (t) => t.kernelMs / 1000);
    perAgent('agentk_agent_syscalls_per_second', "Syscalls (decision records) of the agent's trees in the current one-second window", (t) => t.syscallsThisSecond);
    perAgent('agentk_agent_processes', "Processes of the agent's live trees", (t) => t.processes);
    perAgent('agentk_agent_vfs_bytes', "Bytes the agent's VFS tree holds (its quota: agentk_agent_vfs_bytes_limit)", (t) => t.vfsBytes, 'agent');
    perAgent('agentk_agent_vfs_bytes_limit', "The agent's VFS quota in bytes", (t) => t.vfsBytesLimit ?? Number.POSITIVE_INFINITY, 'agent');
    perAgent('agentk_agent_vfs_inodes', "Files and directories the agent's VFS tree holds", (t) => t.vfsInodes, 'agent');
    const telemetry = kernel.services.telemetry;
    if (telemetry instanceof OtelTelemetry) {
      this.registry.registerMetric(
        new Counter({
          name: 'agentk_telemetry_batches_lost_total',
          help: 'Span batches not exported, by reason: dropped (the export worker was behind, or being started again) or failed (the collector did not take them, or the worker ended with them)',
          labelNames: ['reason'] as const,
          registers: [],
          collect() {
            const stats = telemetry.exportStats();
            this.reset();
            this.inc({ reason: 'dropped' }, stats.dropped);
            this.inc({ reason: 'failed' }, stats.failed);
          },
        }),
      );
      this.registry.registerMetric(
        new Counter({
          name: 'agentk_telemetry_worker_restarts_total',
          help: 'Times the trace export worker ended (its heap limit, an error) and was started again',
          registers: [],
          collect() {
            this.reset();
            this.inc(telemetry.exportStats().restarts);
          },
        }),
      );
    }
    kernel.bus.subscribe((e) => this.signals.inc({ signal: e.signal, outcome: e.outcome }));
  }

  /** counting wraps a recorder so every decision is counted. */
  counting(inner: DecisionRecorder): DecisionRecorder {
    const syscalls = this.syscalls;
    return observed(inner, (entry) => {
      if (entry.type === 'syscall') syscalls.inc({ syscall: entry.syscall, decision: entry.effect });
    });
  }
}
