/**
 * How a process ends: its isolate stopped and freed (the freeing charged to
 * its tree), its files closed, its approvals cancelled, its exit record made
 * and recorded (an uncaught error's first line and top frame in the exit
 * record's detail). Endings run from timers and signal paths, so recording them
 * is best-effort: a log that cannot take the record (closed, disk full) must
 * not stop the ending, nor throw where nothing catches it. Syscalls still
 * fail closed on such a log.
 */
import type { DecisionInput, DecisionRecorder } from '../syscalls/records.ts';
import type { Telemetry } from '../syscalls/telemetry.ts';
import { exitStatusForSignal, type SignalName } from '../signals/signal-table.ts';
import type { ApprovalGate } from './approvals.ts';
import type { CpuWatchdog } from './cpu-watchdog.ts';
import { exitSummary } from './exit-summary.ts';
import type { Process, ExitReason, ExitRecord } from './process.ts';
import type { ProcessTable } from './process-table.ts';
import { recordRefusals, type GateHost } from './syscall-gate.ts';

/** ExitHost is what ending a process needs from the kernel. */
export interface ExitHost {
  readonly table: ProcessTable;
  readonly cpu: CpuWatchdog;
  readonly gate: GateHost;
  readonly approvals: ApprovalGate;
  readonly recorder: DecisionRecorder;
  readonly telemetry?: Telemetry;
  policyVersion(): string;
}

/** recordEnding records how a process ended (or a failed checkpoint), never throwing. */
export function recordEnding(host: ExitHost, entry: DecisionInput): void {
  try {
    host.recorder.record(entry);
  } catch {
    // the process ends regardless
  }
}

/** terminate ends `proc` with `status`: stops its isolate, closes its files, records the exit. */
export function terminate(host: ExitHost, proc: Process, status: number, reason: ExitReason): void {
  if (proc.exit !== undefined) return;
  const cpuNs = Number(proc.sandbox?.cpuTimeNs ?? 0n);
  const lineage = proc.lineage;
  const freeing = performance.now();
  proc.sandbox?.dispose();
  // A zombie keeps its exit record, not its sandbox (the program, its source map and what mapping it made).
  proc.sandbox = undefined;
  proc.fds?.closeAll();
  lineage.charge((performance.now() - freeing) * 1e6);
  lineage.endedCpuNs += cpuNs;
  if (host.table.live(lineage, proc).length === 0) {
    host.cpu.unwatch(lineage);
    lineage.flushRefusals((refused) => recordRefusals(host.gate, proc, refused));
  }
  const record: ExitRecord = { pid: proc.pid, agentId: proc.agentId, status, reason, syscalls: proc.syscalls, cpuMs: cpuNs / 1e6, wallMs: Date.now() - proc.startedAt };
  proc.end(record);
  host.approvals.cancel(proc.pid);
  // A signal's why has its own record (die); an error's text is recorded here, as one bounded line.
  const detail = reason.kind === 'error' ? `status ${status}: ${exitSummary(reason, status)}` : `status ${status}`;
  recordEnding(host, { type: 'exit', pid: proc.pid, agentId: proc.agentId, detail });
  host.telemetry?.agentEnded(proc.pid, status, exitSummary(reason, status));
}

/** die ends `proc` by `signal` (status 128+N), recording why. */
export function die(host: ExitHost, proc: Process, signal: SignalName, why: string): void {
  if (proc.exit !== undefined) return;
  recordEnding(host, { type: 'signal', pid: proc.pid, agentId: proc.agentId, detail: `${signal}: ${why}`, policyVersion: host.policyVersion() });
  terminate(host, proc, exitStatusForSignal(signal), { kind: 'signal', signal, why });
}
