/**
 * What the isolates' calls have brought into this thread (the kernel's, or
 * a sandbox host's) since it last got back to its event loop, and calls
 * made to wait for the next turn once that is too much.
 *
 * isolated-vm runs every call an isolate makes into this thread inside one
 * V8 HandleScope for as long as another call is already queued
 * (IsolateEnvironment::AsyncEntry holds one Executor::Lock for its whole
 * loop), so nothing a call brought in or handed back is freed until no
 * isolate has a call waiting. A few isolates calling without pause keep that
 * loop going: found here, three agents each making async spawns with 4.4 MB
 * of argv (refused at once, EINVAL) took the kernel to its 4 GB heap limit in
 * under a second, every argument still held by that one scope; three making
 * blocking stats of a 4.4 MB path held 2.9 GB. No capability was needed.
 *
 * Past TURN_BYTES in one turn, each further call waits for the next turn: a
 * blocking call is answered later (its isolate sleeps), an asynchronous one
 * `busy` (held back in ring 3, which is nudged after the turn). The isolates
 * stop calling, the loop ends, its handles go. What stays is bounded by
 * TURN_BYTES plus, per isolate, a call or two (a data call answered busy is
 * no barrier: the next other call still crosses) and a reply. Not counted:
 * the runtime's `layer` and `settle` crossings (once each per process). The
 * weight is an upper bound of a call's encoding, an estimate of its heap.
 */

import type { Reply } from '../syscalls/dispatch.ts';
import type { WireReply } from './wire-reply.ts';

/** The bytes of calls one turn of this thread takes before further calls wait for the next. */
export const TURN_BYTES = 64 * 1024 * 1024;
/** What a call counts at least: its arguments' array, the reply object and their handles. */
const CALL_BYTES = 128;
/** Deeper than this, a value counts a flat NODE_BYTES (ring 3 nests arguments at most boot.argDepth deep). */
const MAX_DEPTH = 32;
const NODE_BYTES = 16;
/** The most values weigh looks at in one call's arguments or reply. */
const MAX_NODES = 1 << 18;
/** Weighing a call's arguments is billed to its tree past this many values (weighCall). */
const BILLED_VALUES = 4096;

let used = 0;
let ending = false;
let waiting: { readonly promise: Promise<void>; readonly resolve: () => void } | undefined;

/** turnEnd runs once this thread is back in its event loop (after isolated-vm's loop of calls has ended). */
function turnEnd(): void {
  used = 0;
  ending = false;
  const woken = waiting;
  waiting = undefined;
  woken?.resolve();
}

/** take counts `bytes` a call brought in or hands back against this turn. */
export function take(bytes: number): void {
  used += bytes;
  if (ending) return;
  ending = true;
  setImmediate(turnEnd);
}

/** full: this turn has taken TURN_BYTES; calls now wait for the next. */
export function turnFull(): boolean {
  return used > TURN_BYTES;
}

/** nextTurn resolves once this thread has got back to its event loop. */
export function nextTurn(): Promise<void> {
  if (waiting === undefined) {
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    waiting = { promise, resolve };
    if (!ending) {
      ending = true;
      setImmediate(turnEnd);
    }
  }
  return waiting.promise;
}

/**
 * weigh estimates what `value` holds on this thread's heap (two bytes a
 * string unit: an upper bound of its encoding too). It looks at no more than
 * MAX_NODES values (ring 3 sends at most boot.argNodes); past them, or deeper
 * than MAX_DEPTH, a value counts NODE_BYTES.
 */
export function weigh(value: unknown): number {
  const budget = { nodes: MAX_NODES };
  return weighed(value, 0, budget);
}

function weighed(value: unknown, depth: number, budget: { nodes: number }): number {
  budget.nodes--;
  if (typeof value === 'string') return NODE_BYTES + 2 * value.length;
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH || budget.nodes < 0) return NODE_BYTES;
  if (ArrayBuffer.isView(value)) return 4 * NODE_BYTES + value.byteLength;
  if (Array.isArray(value)) {
    let bytes = NODE_BYTES + 8 * value.length;
    for (let i = 0; i < value.length && budget.nodes > 0; i++) bytes += weighed(value[i], depth + 1, budget);
    return bytes;
  }
  let bytes = 2 * NODE_BYTES;
  for (const key of Object.keys(value)) {
    if (budget.nodes <= 0) break;
    bytes += NODE_BYTES + 2 * key.length + weighed((value as Record<string, unknown>)[key], depth + 1, budget);
  }
  return bytes;
}

/** callBytes is what a call with `args` counts: at least CALL_BYTES. */
export function callBytes(args: readonly unknown[]): number {
  return CALL_BYTES + weighed(args, 0, { nodes: MAX_NODES });
}

/**
 * weighCall is callBytes of a call an isolate makes, taken from this turn. Weighing an argument of many keys costs
 * about what encoding it does (12 ms for 67,000 keys, a review), so `charge` bills the caller's tree for it past
 * BILLED_VALUES values. Not below: timed on a loaded machine, a small call's weighing took whatever the thread was
 * preempted for, and a syscall flood ran past its CPU limit on what the kernel billed it (a CI run).
 */
export function weighCall(args: readonly unknown[], charge: (ns: number) => void): number {
  const started = performance.now();
  const budget = { nodes: MAX_NODES };
  const bytes = CALL_BYTES + weighed(args, 0, budget);
  take(bytes);
  if (MAX_NODES - budget.nodes > BILLED_VALUES) charge((performance.now() - started) * 1e6);
  return bytes;
}

/** handedBack counts a reply a host function hands back to an isolate against this turn. */
export function handedBack(reply: WireReply): WireReply {
  if (reply.t === 'value') take(weigh(reply.v));
  return reply;
}

/** nextTurnCall is a blocking call's reply when it must wait for the next turn: `run` runs then (EINTR if `cancel` was aborted first). */
export function nextTurnCall(cancel: AbortSignal, run: (cancel: AbortSignal) => Reply): Reply {
  return {
    later: nextTurn().then((): Reply | Promise<Reply> => {
      if (cancel.aborted) return { errno: 'EINTR', message: 'the process has ended' };
      const reply = run(cancel);
      return 'later' in reply ? reply.later : reply;
    }),
  };
}
