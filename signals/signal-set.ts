/**
 * SignalSet is a bit set of signal numbers. UNBLOCKABLE holds the signals
 * no mask may hold back; every mask is stored with them removed.
 */
import { SIGNAL_NAMES, SIGNALS, type SignalName } from './signal-table.ts';

export type SignalSet = number;

export const EMPTY_SET: SignalSet = 0;

export function bit(sig: SignalName): SignalSet {
  return 1 << SIGNALS[sig].nr;
}

export function setOf(signals: readonly SignalName[]): SignalSet {
  let set = EMPTY_SET;
  for (const s of signals) set |= bit(s);
  return set;
}

export const UNBLOCKABLE: SignalSet = setOf(SIGNAL_NAMES.filter((s) => !SIGNALS[s].maskable));

/** namesOf lists the signals in `set`, lowest number first. */
export function namesOf(set: SignalSet): SignalName[] {
  return SIGNAL_NAMES.filter((s) => (set & bit(s)) !== 0).toSorted((a, b) => SIGNALS[a].nr - SIGNALS[b].nr);
}

/** lowest returns the lowest-numbered signal in `set`, if any. */
export function lowest(set: SignalSet): SignalName | undefined {
  return set === EMPTY_SET ? undefined : namesOf(set)[0];
}
