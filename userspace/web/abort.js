// AbortController and AbortSignal (WHATWG DOM), on the shim's EventTarget.
// Timers are looked up when AbortSignal.timeout is called, not captured,
// since the runtime may install them after this module.
import { Event, EventTarget, defineEventAttribute } from './events.js';
import { DOMException } from './dom-exception.js';
import { inspectAs } from './inspect-as.js';
import { NativeTypeError, globalScope, uncurry } from './intrinsics.js';

const token = Symbol('AbortSignal');
const states = new WeakMap();
const stateOf = uncurry(WeakMap.prototype.get);
const setState = uncurry(WeakMap.prototype.set);
const NativeWeakRef = WeakRef;
const deref = uncurry(WeakRef.prototype.deref);

/**
 * Dependent signals (made by AbortSignal.any) are held by their sources
 * weakly, as the DOM allows: one nobody else holds is collected, however
 * long its sources live (a session's signal merged into every call's, as
 * the AI SDK does per call with a timeout, kept each forever). One that has
 * abort listeners or abort algorithms is held here while it has them and
 * has not aborted, so that they still run. A dependent follows the sources
 * of the signals it was made from, never another dependent (which might be
 * collected in between).
 */
const held = new Set();

/** keepIfNeeded holds dependent `signal` while it has abort listeners or algorithms and has not aborted; else lets it go. */
function keepIfNeeded(signal, own) {
  if (own.sources === null) return;
  if (!own.aborted && (own.listeners.size > 0 || own.handler || own.algorithms.size > 0)) held.add(signal);
  else held.delete(signal);
}

/** follow makes `source` abort `signal` when it aborts, holding it weakly; dead entries are dropped as the list doubles. */
function follow(source, signal) {
  const own = state(source);
  if (own.followers.length >= own.pruneAt) {
    own.followers = own.followers.filter((ref) => deref(ref) !== undefined);
    own.pruneAt = Math.max(16, own.followers.length * 2);
  }
  own.followers.push(new NativeWeakRef(signal));
}

/** listenerKey names an abort listener as EventTarget tells them apart: the listener and its capture flag. */
function listenerKey(listener, options) {
  const capture = typeof options === 'boolean' ? options : Boolean(options?.capture);
  return { listener, capture };
}

function findListener(list, key) {
  for (const entry of list) if (entry.listener === key.listener && entry.capture === key.capture) return entry;
  return undefined;
}

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
  own.sources = own.sources === null ? null : [];
  const algorithms = [...own.algorithms];
  own.algorithms.clear();
  held.delete(signal);
  for (const run of algorithms) run(own.reason);
  signal.dispatchEvent(new Event('abort'));
  for (const ref of followers) {
    const follower = deref(ref);
    if (follower !== undefined) signalAbort(follower, own.reason);
  }
}

/** AbortSignal is made by AbortController and the static factories; `new AbortSignal()` throws TypeError. */
export class AbortSignal extends EventTarget {
  constructor(key = undefined) {
    if (key !== token) throw new NativeTypeError('Illegal constructor');
    super();
    // sources: null for a signal that is not dependent; listeners: the abort listeners a dependent has (see `held`).
    setState(states, this, { aborted: false, reason: undefined, followers: [], pruneAt: 16, algorithms: new Set(), sources: null, listeners: new Set(), handler: false });
  }
  addEventListener(type, listener, options = undefined) {
    super.addEventListener(type, listener, options);
    const own = state(this);
    if (`${type}` !== 'abort' || own.sources === null || listener === null || listener === undefined) return;
    const key = listenerKey(listener, options);
    if (findListener(own.listeners, key) === undefined) own.listeners.add(key);
    keepIfNeeded(this, own);
  }
  removeEventListener(type, listener, options = undefined) {
    super.removeEventListener(type, listener, options);
    const own = state(this);
    if (`${type}` !== 'abort' || own.sources === null) return;
    const found = findListener(own.listeners, listenerKey(listener, options));
    if (found !== undefined) own.listeners.delete(found);
    keepIfNeeded(this, own);
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
    const timer = globalScope.setTimeout(() => signalAbort(signal, new DOMException('The operation was aborted due to timeout', 'TimeoutError')), delay);
    // As in Node: the timeout alone does not keep the process alive (a fetch waiting on it does, as a call outstanding).
    if (timer !== null && typeof timer === 'object' && typeof timer.unref === 'function') timer.unref();
    return signal;
  }
  /** any(signals) aborts when the first of `signals` does, with its reason; it follows their sources (see `held`). */
  static any(signals) {
    const given = [...signals];
    const signal = new AbortSignal(token);
    for (const source of given) {
      if (state(source).aborted) {
        signalAbort(signal, source.reason);
        return signal;
      }
    }
    const own = state(signal);
    own.sources = [];
    for (const source of given) {
      for (const root of state(source).sources ?? [source]) {
        if (own.sources.includes(root)) continue;
        own.sources.push(root);
        follow(root, signal);
      }
    }
    return signal;
  }
}
defineEventAttribute(AbortSignal.prototype, 'abort');
// An `onabort` handler keeps a dependent signal as a listener does (the shim sets it without addEventListener).
{
  const attribute = Object.getOwnPropertyDescriptor(AbortSignal.prototype, 'onabort');
  Object.defineProperty(AbortSignal.prototype, 'onabort', {
    ...attribute,
    set(value) {
      attribute.set.call(this, value);
      const own = state(this);
      own.handler = typeof value === 'function' || (value !== null && typeof value === 'object');
      keepIfNeeded(this, own);
    },
  });
}
Object.defineProperty(AbortSignal.prototype, Symbol.toStringTag, { value: 'AbortSignal', configurable: true });

/** onAbort runs `run(reason)` once when `signal` aborts (before abort listeners), for fetch and streams; it returns a function that cancels this. */
export function onAbort(signal, run) {
  const own = state(signal);
  own.algorithms.add(run);
  keepIfNeeded(signal, own);
  return () => {
    own.algorithms.delete(run);
    keepIfNeeded(signal, own);
  };
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

inspectAs(AbortSignal, 'AbortSignal', ['aborted']);
inspectAs(AbortController, 'AbortController', ['signal']);
