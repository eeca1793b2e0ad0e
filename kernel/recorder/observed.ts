/**
 * observed wraps a recorder so that something else sees each record as it is
 * made (metrics counting decisions, agentd's ledger of live processes, a
 * denial hint), while every promise of the recorder — whenWritten,
 * beforeAction — stays the inner one's.
 */
import type { DecisionInput, DecisionRecorder } from '../../syscalls/records.ts';

/** observed is `inner` with `seen` told of each record once `inner` has taken it (a record it refuses is not seen). */
export function observed(inner: DecisionRecorder, seen: (entry: DecisionInput, seq: number) => void): DecisionRecorder {
  return {
    record(entry: DecisionInput): number {
      const seq = inner.record(entry);
      seen(entry, seq);
      return seq;
    },
    ...(inner.whenWritten ? { whenWritten: (seq: number) => inner.whenWritten!(seq) } : {}),
    beforeAction: (seq: number) => inner.beforeAction(seq),
    get bytes() {
      return inner.bytes;
    },
  };
}
