/**
 * SignalState is one process's signals as state: the pending set, the mask
 * (never holding an unblockable signal) and each catchable signal's
 * disposition. A Subject publishes what happens to each signal; it observes,
 * it does not decide.
 */
import { Subject } from 'rxjs';
import { bit, EMPTY_SET, lowest, type SignalSet, UNBLOCKABLE } from './signal-set.ts';
import { SIGNALS, type SignalName } from './signal-table.ts';

export type Disposition = 'default' | 'ignore' | 'handle';

/** Outcome is what became of a signal sent to a process. */
export type Outcome = 'pending' | 'delivered' | 'handled' | 'ignored' | 'stopped' | 'continued' | 'terminated' | 'checkpointed';

export interface SignalEvent {
  readonly time: number;
  /** The sending pid, or an operator name such as `operator`. */
  readonly sender: number | string;
  readonly target: number;
  readonly signal: SignalName;
  readonly outcome: Outcome;
}

export class SignalState {
  readonly events = new Subject<SignalEvent>();
  private pendingSet: SignalSet = EMPTY_SET;
  private maskSet: SignalSet = EMPTY_SET;
  private readonly dispositions = new Map<SignalName, Disposition>();

  get pending(): SignalSet {
    return this.pendingSet;
  }

  get mask(): SignalSet {
    return this.maskSet;
  }

  /** setMask replaces the mask; unblockable signals are dropped from it, as POSIX does. */
  setMask(mask: SignalSet): SignalSet {
    this.maskSet = mask & ~UNBLOCKABLE;
    return this.maskSet;
  }

  disposition(sig: SignalName): Disposition {
    return this.dispositions.get(sig) ?? 'default';
  }

  /** handlesAny: the program has a handler for some signal (it may be waiting for one). */
  get handlesAny(): boolean {
    for (const d of this.dispositions.values()) if (d === 'handle') return true;
    return false;
  }

  /** setDisposition changes how a catchable signal is taken; false for a signal that cannot be caught. */
  setDisposition(sig: SignalName, disposition: Disposition): boolean {
    if (!SIGNALS[sig].catchable && disposition !== 'default') return false;
    if (disposition === 'default') this.dispositions.delete(sig);
    else this.dispositions.set(sig, disposition);
    return true;
  }

  post(sig: SignalName): void {
    this.pendingSet |= bit(sig);
  }

  clear(sig: SignalName): void {
    this.pendingSet &= ~bit(sig);
  }

  blocked(sig: SignalName): boolean {
    return (this.maskSet & bit(sig)) !== 0;
  }

  /** takeDeliverable removes and returns the lowest pending signal the mask lets through. */
  takeDeliverable(): SignalName | undefined {
    const sig = lowest(this.pendingSet & ~this.maskSet);
    if (sig !== undefined) this.clear(sig);
    return sig;
  }
}
