/**
 * The kernel's checkpoints of agents' memory: SIGUSR1's default action and
 * `sys.checkpoint()` (kernel/checkpoint.ts copies; this file says when and
 * records it). One snapshot of an agent at a time (snapshot-queue.ts); the
 * copying is charged to the process's tree.
 */
import type { CheckpointInfo } from '../syscalls/context.ts';
import type { DecisionRecorder } from '../syscalls/records.ts';
import type { AgentVfs } from '../vfs/agent-vfs.ts';
import { snapshot } from './checkpoint.ts';
import type { Process } from './process.ts';
import { SnapshotQueue } from './snapshot-queue.ts';

/** CheckpointHost is what checkpoints need of the kernel. */
export interface CheckpointHost {
  readonly recorder: DecisionRecorder;
  vfs(agentId: string): AgentVfs;
  policyVersion(): string;
  clock(): number;
  /** recordEnding records what happened to a process where the log may already be closed (process-exit.ts). */
  recordEnding(entry: { readonly type: 'checkpoint'; readonly pid: number; readonly agentId: string; readonly detail: string }): void;
  readonly stateDir: string | undefined;
  readonly keep: number | undefined;
}

export class Checkpoints {
  private readonly host: CheckpointHost;
  private readonly snapshots = new SnapshotQueue();
  /** Snapshots whose failure is already being recorded (signals that share one record it once). */
  private readonly watched = new WeakSet<Promise<CheckpointInfo>>();

  constructor(host: CheckpointHost) {
    this.host = host;
  }

  /** signalled is SIGUSR1's default action; a failure is recorded (once per snapshot, however many signals share it), the process goes on. */
  signalled(proc: Process): void {
    const taking = this.take(proc);
    if (this.watched.has(taking)) return;
    this.watched.add(taking);
    taking.catch((err: unknown) => {
      this.host.recordEnding({ type: 'checkpoint', pid: proc.pid, agentId: proc.agentId, detail: `checkpoint failed: ${err instanceof Error ? err.message : String(err)}` });
    });
  }

  /** take snapshots the agent memory of `proc` and records it. */
  take(proc: Process): Promise<CheckpointInfo> {
    return this.snapshots.take(proc.agentId, () => this.once(proc));
  }

  private async once(proc: Process): Promise<CheckpointInfo> {
    const { host } = this;
    const info = await snapshot(host.vfs(proc.agentId), proc.agentId, host.policyVersion(), host.stateDir, { charge: (ns) => proc.lineage.charge(ns), keep: host.keep, now: host.clock() });
    host.recorder.record({ type: 'checkpoint', pid: proc.pid, agentId: proc.agentId, detail: `checkpoint ${info.n}: ${info.files} files, ${info.bytes} bytes`, policyVersion: host.policyVersion() });
    return info;
  }
}
