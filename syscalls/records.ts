/**
 * The decision log's records as the dispatcher and the kernel report them,
 * and the one rule every recorder keeps: nothing runs before its record is
 * written.
 */
import type { PolicyRequest } from '../abi/policy-request.ts';
import type { Access, Effect } from '../abi/kinds.ts';

/** SyscallRecord is one decision as the dispatcher reports it. */
export interface SyscallRecord {
  readonly type: 'syscall';
  readonly pid: number;
  readonly agentId: string;
  readonly syscall: string;
  readonly access: Access;
  readonly effect: Effect;
  readonly rule: string;
  readonly reason: string;
  readonly policyVersion?: string;
  readonly path?: string;
  /** The decoded arguments; a recorder keeps a digest, never the data. */
  readonly args?: Readonly<Record<string, unknown>>;
  /** The question the policy was asked (absent when the kernel decided before the policy): a recorder keeps what replay needs of it (kernel/recorder/policy-input.ts). */
  readonly asked?: PolicyRequest;
}

/** LifecycleRecord is a process event: spawn, signal, approval asked or answered, exit; a sum of refusals (limit); an intent contract broken after a call (contract); a shadow policy that decided a call otherwise (shadow); or news of the log itself (log: a copy of it that was lost). */
export interface LifecycleRecord {
  readonly type: 'spawn' | 'exit' | 'signal' | 'approval' | 'checkpoint' | 'policy' | 'auth' | 'limit' | 'log' | 'contract' | 'shadow';
  readonly pid: number;
  readonly agentId: string;
  readonly detail: string;
  readonly policyVersion?: string;
}

/**
 * OutcomeRecord is what an executed write-access action came to, linked to
 * its decision record: ok with the result's size and digest (a recorder
 * keeps the digest, never the result), or the errno it failed with.
 */
export interface OutcomeRecord {
  readonly type: 'outcome';
  readonly pid: number;
  readonly agentId: string;
  readonly syscall: string;
  /** The seq of the record that let the action run: its decision, or its approval. */
  readonly of: number;
  readonly errno?: string;
  readonly message?: string;
  readonly result?: unknown;
}

export type DecisionInput = SyscallRecord | LifecycleRecord | OutcomeRecord;

/**
 * DecisionRecorder appends records in order. A `write`-access action must
 * not run before its record (with everything before it) is written: every
 * recorder implements beforeAction, which the dispatcher asks before the
 * action. A recorder that cannot record throws, and the dispatcher then
 * denies.
 */
export interface DecisionRecorder {
  /** record appends `entry` and returns its sequence number. */
  record(entry: DecisionInput): number;
  /** whenWritten resolves once record `seq` is as durable as the recorder promises. */
  whenWritten?(seq: number): Promise<void>;
  /**
   * beforeAction is the one rule of every recorder: nothing runs before its
   * record is written. The dispatcher asks it before every write-access
   * action it runs, allowed or approved (a tool call included), and the
   * action runs only after: undefined when record `seq` and every record
   * before it are written (or have just been, synchronously), else a promise
   * that resolves once they are. Throws, or rejects, with a KernelError
   * (ENOSPC, EIO) when they cannot be written — and the action never runs.
   */
  beforeAction(seq: number): Promise<void> | undefined;
  /**
   * bytes is how many bytes of records the recorder has taken in all, as it
   * writes them: the kernel charges what a syscall adds to its tree's
   * `log_bytes_per_second`. Absent for a recorder that keeps nothing on disk
   * or in a store (the in-memory log bounds itself).
   */
  readonly bytes?: number;
}

/**
 * recordFor has `recorder` take `entry`, made by a call of `caller`, and
 * charges the bytes it added to the log to the caller (Caller.logged): the
 * records a call makes outside the gate's metering of it (Lineage.meter)
 * are charged this way, where the bytes are: a decision settled later (a
 * cluster's shared limits), an approval, an outcome, a lease's report.
 */
export function recordFor(recorder: DecisionRecorder, caller: { logged?(bytes: number): void }, entry: DecisionInput): number {
  const before = recorder.bytes;
  const seq = recorder.record(entry);
  if (before !== undefined && caller.logged !== undefined) caller.logged(recorder.bytes! - before);
  return seq;
}
