// Calls held back in ring 3: asynchronous calls the kernel answered `busy`
// (its bounds on what it holds for this process are reached, or the process
// is stopped), and calls kept behind them. They are kept here, in the agent's
// own heap, and issued again, in order, as completions come in (or the
// kernel nudges). A held call did nothing in the kernel. Only what must stay
// in order waits behind them: a call that brings data back (boot.dataCalls:
// the kernel runs a few at a time) behind another, a call naming an fd
// (boot.fdArguments) behind a held call naming the same fd, and everything
// behind a call refused for any other reason (the kernel holds too many
// completions, or the process is stopped: nothing would go). Any other call
// goes at once (found by a review: a close awaited while reads waited on an
// empty pipe that only the program's next step would fill never went, and
// the program never ended).
//
// A linked list of records only this closure reaches, touched by no method
// the agent can redefine: a bounded call's arguments are never where the
// agent could swap them (found by an attacker pass: a redefined
// Array.prototype.push caught the queued record, and its arguments crossed
// unbounded when it was issued again). Code of the agent's can run in the
// middle of a drain (a signal handler a reply carries, a `then` getter a
// resolved value meets) and cancel a held call there: the drain skips what is
// no longer queued, and a drain asked for meanwhile runs once this one is
// over (found by a review: an aborted read was issued anyway and its bytes
// were lost).

import { put } from './boundary.js';

const apply = Reflect.apply;
const ownKeys = Object.keys;
const hasOwn = Object.prototype.hasOwnProperty;
const BUSY = { t: 'busy' };

/** isBusy: the kernel answered an asynchronous call `busy` (not issued; issue it again later). */
export const isBusy = (reply) => reply !== null && typeof reply === 'object' && reply.t === 'busy';

/**
 * heldCalls keeps the calls held back for one process. `issue(wire)` sends a
 * call and returns the kernel's reply; `settle(reply, entry)` turns a reply
 * that is not `busy` into the call's outcome.
 */
export function heldCalls(boot, issue, settle) {
  let firstWaiting = null;
  let lastWaiting = null;
  let draining = false;
  let drainAgain = false;
  const dataCall = { __proto__: null };
  const fdArguments = { __proto__: null };
  for (let i = 0; i < boot.dataCalls.length; i++) dataCall[boot.dataCalls[i]] = true;
  const fdNumbers = ownKeys(boot.fdArguments);
  for (let i = 0; i < fdNumbers.length; i++) fdArguments[fdNumbers[i]] = boot.fdArguments[fdNumbers[i]];
  // What waits: data calls, calls refused for another reason (nothing passes them), calls per fd.
  let waitingData = 0;
  let waitingBarriers = 0;
  const waitingOnFd = { __proto__: null };

  /** kindOf is what ordering a bounded call ([nr, ...args]) needs: whether it brings data back, and the fds it names. */
  function kindOf(nr, checked) {
    const fds = [];
    const spec = fdArguments[nr];
    if (spec !== undefined) {
      for (let i = 0; i < spec.length; i++) {
        // No destructuring: it would call the agent's Array.prototype[Symbol.iterator].
        const index = spec[i][0];
        const field = spec[i][1];
        let value = checked[index + 1];
        if (field !== null) value = value !== null && typeof value === 'object' && apply(hasOwn, value, [field]) ? value[field] : undefined;
        if (typeof value === 'number') put(fds, fds.length, value);
      }
    }
    return { __proto__: null, data: dataCall[nr] === true, fds };
  }

  /** namesWaitingFd: one of `fds` is named by a call held now. */
  function namesWaitingFd(fds) {
    for (let i = 0; i < fds.length; i++) if (waitingOnFd[fds[i]] !== undefined) return true;
    return false;
  }

  /** mustWait: a call of `kind` may not go before the calls held now. */
  function mustWait(kind) {
    return waitingBarriers > 0 || (kind.data && waitingData > 0) || namesWaitingFd(kind.fds);
  }

  function enqueue(entry) {
    entry.prev = lastWaiting;
    if (lastWaiting === null) firstWaiting = entry;
    else lastWaiting.next = entry;
    lastWaiting = entry;
    count(entry, 1);
  }

  /** unlink takes a held call off the list (once: a second unlink of the same call does nothing). Its `next` stays, for a drain walking past it. */
  function unlink(entry) {
    if (!entry.queued) return;
    if (entry.prev === null) firstWaiting = entry.next;
    else entry.prev.next = entry.next;
    if (entry.next === null) lastWaiting = entry.prev;
    else entry.next.prev = entry.prev;
    entry.queued = false;
    count(entry, -1);
  }

  /** count adds `by` to the tallies `entry` is in. */
  function count(entry, by) {
    if (entry.barrier) waitingBarriers += by;
    else if (entry.data) waitingData += by;
    for (let i = 0; i < entry.fds.length; i++) {
      const fd = entry.fds[i];
      const n = (waitingOnFd[fd] ?? 0) + by;
      if (n === 0) delete waitingOnFd[fd];
      else waitingOnFd[fd] = n;
    }
  }

  /**
   * hold keeps `call` (its wire, name, resolve, reject, handle), of `kind`,
   * which was answered busy or must wait; it returns what cancels it while it
   * is held.
   */
  function hold(kind, call) {
    // A call the kernel refused though nothing kept it waiting, and that brings no data back: nothing passes it.
    const barrier = !kind.data && !mustWait(kind);
    const entry = call;
    entry.data = kind.data;
    entry.fds = kind.fds;
    entry.barrier = barrier;
    entry.prev = null;
    entry.next = null;
    entry.queued = true;
    enqueue(entry);
    return (reason) => {
      if (!entry.queued) return;
      unlink(entry);
      entry.reject(reason);
      // What waited only behind it may go now (a review: a close behind an aborted read waited for good).
      drain();
    };
  }

  /** drain issues the held calls that may go (drainPass); asked again while it runs, it runs again after. */
  function drain() {
    if (draining) {
      drainAgain = true;
      return;
    }
    draining = true;
    try {
      do {
        drainAgain = false;
        drainPass();
      } while (drainAgain);
    } finally {
      draining = false;
    }
  }

  /**
   * drainPass issues the held calls that may go, in order: a data call the
   * kernel refuses keeps later data calls and later calls on its fds held,
   * and lets the others go; any other call it refuses stops the pass (the
   * kernel would refuse everything).
   */
  function drainPass() {
    let dataHeld = false;
    const heldFds = { __proto__: null };
    for (let entry = firstWaiting; entry !== null; entry = entry.next) {
      // Cancelled by the agent's code while this pass ran: gone.
      if (!entry.queued) continue;
      let waits = entry.data && dataHeld;
      for (let i = 0; i < entry.fds.length && !waits; i++) waits = heldFds[entry.fds[i]] === true;
      const reply = waits ? BUSY : issue(entry.wire);
      if (isBusy(reply)) {
        if (!entry.data && !waits) {
          // Refused though nothing held it: the kernel holds too much (or the process is stopped); a barrier until it goes.
          if (!entry.barrier) {
            count(entry, -1);
            entry.barrier = true;
            count(entry, 1);
          }
          return;
        }
        if (entry.data) dataHeld = true;
        for (let i = 0; i < entry.fds.length; i++) heldFds[entry.fds[i]] = true;
      } else {
        unlink(entry);
        settle(reply, entry);
      }
    }
  }

  return { kindOf, mustWait, hold, drain };
}
