// `timers` and `timers/promises` over env.platformTimers (the event loop's
// own timers). Timers are Node-shaped objects (ref/unref/hasRef/refresh,
// usable as numbers); unref only records the wish: the event loop decides
// when the process ends.
import { abortError } from './events.js';

const delayOf = (ms) => (Number.isFinite(Number(ms)) && Number(ms) >= 1 ? Number(ms) : 1);
function check(fn) {
  if (typeof fn !== 'function') {
    const err = new TypeError('The "callback" argument must be of type function');
    err.code = 'ERR_INVALID_ARG_TYPE';
    throw err;
  }
}

/** createTimers returns the timers module. */
export function createTimers(env, load) {
  const t = env.platformTimers;
  const setImmediateImpl = t.setImmediate || ((fn) => t.setTimeout(fn, 0));
  const clearImmediateImpl = t.clearImmediate || t.clearTimeout;

  class Timeout {
    constructor(start, clear, fn, delay, args, repeat) {
      this._start = start;
      this._clear = clear;
      this._fn = fn;
      this._delay = delay;
      this._args = args;
      this._repeat = repeat;
      this._ref = true;
      this._arm();
    }
    _arm() {
      this._id = this._start(() => {
        if (!this._repeat) this._id = undefined;
        this._fn(...this._args);
      }, this._delay);
    }
    ref() {
      this._ref = true;
      return this;
    }
    unref() {
      this._ref = false;
      return this;
    }
    hasRef() {
      return this._ref;
    }
    refresh() {
      if (this._id !== undefined) this._clear(this._id);
      this._arm();
      return this;
    }
    close() {
      if (this._id !== undefined) this._clear(this._id);
      this._id = undefined;
      return this;
    }
    [Symbol.toPrimitive]() {
      return typeof this._id === 'number' ? this._id : NaN;
    }
  }
  const clear = (timer) => {
    if (timer instanceof Timeout) timer.close();
    else if (timer !== undefined && timer !== null) t.clearTimeout(timer);
  };
  return {
    setTimeout: (fn, ms, ...args) => (check(fn), new Timeout(t.setTimeout, t.clearTimeout, fn, delayOf(ms), args, false)),
    setInterval: (fn, ms, ...args) => (check(fn), new Timeout(t.setInterval, t.clearInterval, fn, delayOf(ms), args, true)),
    setImmediate: (fn, ...args) => (check(fn), new Timeout((cb) => setImmediateImpl(cb), clearImmediateImpl, fn, 0, args, false)),
    clearTimeout: clear,
    clearInterval: clear,
    clearImmediate: clear,
    get promises() {
      return load('timers/promises');
    },
  };
}

/** delayed resolves when start(done) calls done, or rejects with an AbortError when `signal` aborts (closing the timer). */
function delayed(start, signal) {
  if (signal && signal.aborted) return Promise.reject(abortError(signal.reason));
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      timer.close();
      reject(abortError(signal.reason));
    };
    const timer = start(() => {
      if (signal) signal.removeEventListener('abort', onAbort);
      resolve();
    });
    if (signal) signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** createTimersPromises returns `timers/promises`: setTimeout, setImmediate, setInterval (async iterator), scheduler. */
export function createTimersPromises(env, load) {
  const timers = load('timers');
  const setTimeout = (ms, value, options = {}) => delayed((fn) => timers.setTimeout(fn, ms), options.signal).then(() => value);
  const setImmediate = (value, options = {}) => delayed((fn) => timers.setImmediate(fn), options.signal).then(() => value);
  async function* setInterval(ms, value, options = {}) {
    const signal = options.signal;
    if (signal && signal.aborted) throw abortError(signal.reason);
    let ticks = 0;
    let wake = null;
    let failure = null;
    const timer = timers.setInterval(() => {
      ticks++;
      if (wake) wake();
    }, ms);
    const onAbort = () => {
      failure = abortError(signal.reason);
      if (wake) wake();
    };
    if (signal) signal.addEventListener('abort', onAbort, { once: true });
    try {
      for (;;) {
        if (ticks === 0 && failure === null) await new Promise((resolve) => (wake = resolve));
        wake = null;
        if (failure !== null) throw failure;
        for (; ticks > 0; ticks--) yield value;
      }
    } finally {
      timer.close();
      if (signal) signal.removeEventListener('abort', onAbort);
    }
  }
  const scheduler = {
    wait: (ms, options = {}) => setTimeout(ms, undefined, options),
    yield: () => setImmediate(),
  };
  return { setTimeout, setImmediate, setInterval, scheduler };
}
