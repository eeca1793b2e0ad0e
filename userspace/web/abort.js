// AbortController and AbortSignal (WHATWG DOM), on the shim's EventTarget.
// Timers are looked up when AbortSignal.timeout is called, not captured,
// since the runtime may install them after this module.
import { Event, EventTarget, defineEventAttribute } from './events.js';
import { DOMException } from './dom-exception.js';
import { NativeTypeError, globalScope, uncurry } from './intrinsics.js';

const token = Symbol('AbortSignal');
const states = new WeakMap();
const stateOf = uncurry(WeakMap.prototype.get);
const setState = uncurry(WeakMap.prototype.set);

function state(signal) {
  const value = stateOf(states, signal);
  if (value === undefined) throw new NativeTypeError('Illegal invocation: not an AbortSignal');
  return value;
}

/** signalAbort aborts `signal` with `reason` (default AbortError) and then every signal that follows it. */
function signalAbort(signal, reason) {
  const own = state(signal);
  if (own.aborted) return;
  own.aborted = true;
  own.reason = reason === undefined ? new DOMException('This operation was aborted', 'AbortError') : reason;
  const followers = own.followers;
  own.followers = [];
  const algorithms = [...own.algorithms];
  own.algorithms.clear();
  for (const run of algorithms) run(own.reason);
  signal.dispatchEvent(new Event('abort'));
  for (const follower of followers) signalAbort(follower, own.reason);
}

/** AbortSignal is made by AbortController and the static factories; `new AbortSignal()` throws TypeError. */
export class AbortSignal extends EventTarget {
  constructor(key = undefined) {
    if (key !== token) throw new NativeTypeError('Illegal constructor');
    super();
    setState(states, this, { aborted: false, reason: undefined, followers: [], algorithms: new Set() });
  }
  get aborted() {
    return state(this).aborted;
  }
  get reason() {
    return state(this).reason;
  }
  throwIfAborted() {
    const own = state(this);
    if (own.aborted) throw own.reason;
  }
  static abort(reason = undefined) {
    const signal = new AbortSignal(token);
    signalAbort(signal, reason);
    return signal;
  }
  /** timeout(ms) aborts with a TimeoutError DOMException after `ms` milliseconds (RangeError-free: ms is clamped at 0). */
  static timeout(ms) {
    const delay = Number(ms);
    if (!(delay >= 0) || delay > Number.MAX_SAFE_INTEGER) throw new NativeTypeError('The "delay" argument must be a non-negative finite number');
    const signal = new AbortSignal(token);
    globalScope.setTimeout(() => signalAbort(signal, new DOMException('The operation was aborted due to timeout', 'TimeoutError')), delay);
    return signal;
  }
  /** any(signals) aborts when the first of `signals` does, with its reason. */
  static any(signals) {
    const sources = [...signals];
    const signal = new AbortSignal(token);
    for (const source of sources) {
      if (state(source).aborted) {
        signalAbort(signal, source.reason);
        return signal;
      }
    }
    for (const source of sources) state(source).followers.push(signal);
    return signal;
  }
}
defineEventAttribute(AbortSignal.prototype, 'abort');
Object.defineProperty(AbortSignal.prototype, Symbol.toStringTag, { value: 'AbortSignal', configurable: true });

/** onAbort runs `run(reason)` once when `signal` aborts (before abort listeners), for fetch and streams; it returns a function that cancels this. */
export function onAbort(signal, run) {
  const algorithms = state(signal).algorithms;
  algorithms.add(run);
  return () => algorithms.delete(run);
}

/** AbortController owns one AbortSignal and aborts it. */
export class AbortController {
  #signal = new AbortSignal(token);
  get signal() {
    return this.#signal;
  }
  abort(reason = undefined) {
    signalAbort(this.#signal, reason);
  }
}
Object.defineProperty(AbortController.prototype, Symbol.toStringTag, { value: 'AbortController', configurable: true });

/** isAbortSignal reports whether `value` is one of our AbortSignals. */
export function isAbortSignal(value) {
  return value !== null && typeof value === 'object' && stateOf(states, value) !== undefined;
}
