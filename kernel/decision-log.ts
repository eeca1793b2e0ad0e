/**
 * MemoryDecisionLog keeps every decision and lifecycle record in order, each
 * with a sequence number and a time. The hash-chained file recorder arrives
 * with the governance issue behind the same DecisionRecorder interface.
 */
import type { DecisionInput, DecisionRecorder, LifecycleRecord, OutcomeRecord, SyscallRecord } from '../syscalls/records.ts';

/** LoggedDecision is a record as kept: arguments (and the policy's question) are not kept in memory. */
export type LoggedDecision = (Omit<SyscallRecord, 'args' | 'asked'> | LifecycleRecord | Omit<OutcomeRecord, 'result'>) & { readonly seq: number; readonly time: number };

/** The most the records kept in memory hold by default, about: past it the oldest are dropped. */
export const MEMORY_LOG_BYTES = 256 * 1024 * 1024;

/** weigh estimates what a kept record holds: its strings (a path may be 4 KB) and a fixed share for the object. */
function weigh(entry: LoggedDecision): number {
  let bytes = 96;
  for (const value of Object.values(entry)) if (typeof value === 'string') bytes += 2 * value.length;
  return bytes;
}

export class MemoryDecisionLog implements DecisionRecorder {
  private readonly entries: LoggedDecision[] = [];
  private readonly limit: number;
  private readonly maxBytes: number;
  private heldBytes = 0;
  private dropped = 0;

  /**
   * `limit` records and about `maxBytes` bound memory: past either the
   * oldest records are counted and dropped (in batches). Found by an
   * attacker pass: the count alone let 2.5 M records of 4 KB paths (stats
   * an agent makes at 10,000 a second) take the kernel past its heap.
   */
  constructor(limit = 2_000_000, maxBytes = MEMORY_LOG_BYTES) {
    this.limit = limit;
    this.maxBytes = maxBytes;
  }

  record(entry: DecisionInput): number {
    const seq = this.dropped + this.entries.length + 1;
    const time = Date.now();
    let kept: LoggedDecision;
    if (entry.type === 'syscall') {
      const { args: _args, asked: _asked, ...rest } = entry;
      kept = { ...rest, seq, time };
    } else if (entry.type === 'outcome') {
      const { result: _result, ...rest } = entry;
      kept = { ...rest, seq, time };
    } else kept = { ...entry, seq, time };
    this.entries.push(kept);
    this.heldBytes += weigh(kept);
    if (this.entries.length > this.limit + (this.limit >> 2) || this.heldBytes > this.maxBytes + (this.maxBytes >> 2)) this.trim();
    return seq;
  }

  /** trim drops the oldest records until at most `limit` records and `maxBytes` are kept. */
  private trim(): void {
    let cut = 0;
    while (cut < this.entries.length && (this.entries.length - cut > this.limit || this.heldBytes > this.maxBytes)) this.heldBytes -= weigh(this.entries[cut++]!);
    this.entries.splice(0, cut);
    this.dropped += cut;
  }

  /** beforeAction: a record in memory is written once record() returns. */
  beforeAction(): undefined {
    return undefined;
  }

  /** count is the number of records ever made, kept or dropped. */
  get count(): number {
    return this.dropped + this.entries.length;
  }

  list(): readonly LoggedDecision[] {
    return this.entries;
  }
}
