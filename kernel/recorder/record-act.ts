/**
 * recordAct writes the record of an operator's act (a policy replaced, the
 * shadow set, an autonomy level, a credential) before the act takes effect,
 * as the dispatcher does for a decision: recorded, then written
 * (beforeAction), and only then may the act run. When either fails the act
 * must not run, but a record may have been taken all the same (a durable
 * log numbers a record before it writes it, and writes it once there is
 * room: a review found "policy replaced" in the log of a replacement that
 * was refused on a full disk); a second record then says the act was not
 * applied, to land after it. Throws what failed.
 */
import { KernelError } from '../../abi/errno.ts';
import type { DecisionInput, DecisionRecorder } from '../../syscalls/records.ts';

export type ActRecord = DecisionInput & { readonly detail: string };

export async function recordAct(log: Pick<DecisionRecorder, 'record' | 'beforeAction'>, entry: ActRecord): Promise<void> {
  try {
    await log.beforeAction(log.record(entry));
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    notApplied((e) => log.record(e), entry, `its record could not be written: ${why}`);
    throw err instanceof KernelError ? err : new KernelError('EIO', why);
  }
}

/**
 * notApplied records, as best it can, that the act `entry` describes was not applied, and `why`: after the act's own
 * record, which the log may have taken (the record of an act that failed later, or that a full log may yet write).
 * A log that refuses this one too has its own problem to say why.
 */
export function notApplied(record: (entry: DecisionInput) => unknown, entry: ActRecord, why: string): void {
  try {
    record({ ...entry, detail: `not applied: ${entry.detail} (${why})` } as DecisionInput);
  } catch {
    // the log's own problem says why
  }
}
