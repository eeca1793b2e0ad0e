/**
 * MemoryDecisionLog keeps every decision and lifecycle record in order, each
 * with a sequence number and a time. The hash-chained file recorder arrives
 * with the governance issue behind the same DecisionRecorder interface.
 */
import type { DecisionInput, DecisionRecorder, LifecycleRecord, OutcomeRecord, SyscallRecord } from '../syscalls/records.ts';

/** LoggedDecision is a record as kept: arguments (and the policy's question) are not kept in memory. */
export type LoggedDecision = (Omit<SyscallRecord, 'args' | 'asked'> | LifecycleRecord | Omit<OutcomeRecord, 'result'>) & { readonly seq: number; readonly time: number };

export class MemoryDecisionLog implements DecisionRecorder {
  private readonly entries: LoggedDecision[] = [];
  private readonly limit: number;
  private dropped = 0;

  /** `limit` bounds memory: past it the oldest records are counted and dropped (in batches). */
  constructor(limit = 2_000_000) {
    this.limit = limit;
  }

  record(entry: DecisionInput): number {
    const seq = this.dropped + this.entries.length + 1;
    const time = Date.now();
    if (entry.type === 'syscall') {
      const { args: _args, asked: _asked, ...kept } = entry;
      this.entries.push({ ...kept, seq, time });
    } else if (entry.type === 'outcome') {
      const { result: _result, ...kept } = entry;
      this.entries.push({ ...kept, seq, time });
    } else this.entries.push({ ...entry, seq, time });
    if (this.entries.length > this.limit + (this.limit >> 2)) {
      this.entries.splice(0, this.entries.length - this.limit);
      this.dropped = seq - this.entries.length;
    }
    return seq;
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
