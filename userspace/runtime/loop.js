// The event loop of ring 3: timers (setTimeout, setInterval, setImmediate and
// their clear forms), queueMicrotask, and how main's end is reported. Timers
// live here, in a heap ordered by deadline; the kernel holds at most one
// timer for the process at a time (SYS_TIMER for the earliest deadline,
// asynchronous), so 100,000 timers cost the agent's own heap, not the
// kernel's. When the process ends is the kernel's call (Node's rule): main
// has settled, nothing runs in the isolate and no referenced asynchronous
// call (a syscall, the armed timer of a referenced timer) is outstanding.

import { asUncaught } from './unhandled.js';

const apply = Reflect.apply;
const NativePromise = Promise;
const promiseThen = Promise.prototype.then;
const resolved = Promise.resolve();
const MAX_DELAY = 2 ** 31 - 1;
/** before orders timer records: by deadline, then by creation. */
const before = (a, b) => a.when < b.when || (a.when === b.when && a.seq < b.seq);

/** eventLoop makes the timers over `startCall` (boundary.js) and the clock `dateNow`; `fail` hands an uncaught error to the program's listeners, or ends the process with it. */
export function eventLoop({ startCall, cancelNow, SYS, report, describe, dateNow }) {
  const heap = [];
  let seq = 0;
  let nextId = 1;
  let refs = 0;
  let armed = null;
  let armQueued = false;
  /** Set when the kernel refused the timer (EAGAIN: the loop's slots hold completions not yet delivered); the next completion re-arms. */
  let starved = false;
  let failed = false;
  /** The program's listeners for errors nobody caught (process 'uncaughtException', set by the node layer), if any. */
  let uncaught;
  /** Runs the process.nextTick queue (set by the node layer once `process` exists), if any. */
  let tickRunner;

  /** ticks runs the ticks a callback queued, once it has returned (as Node does after each callback); what one throws is uncaught. */
  function ticks() {
    if (tickRunner === undefined) return;
    try {
      tickRunner();
    } catch (err) {
      fail(err);
    }
  }

  /**
   * fail ends the process with an uncaught error, unless the program listens
   * for them, as in Node: true when a listener took it. A promise's rejection
   * (`promise` given) goes to 'unhandledRejection' listeners with its reason
   * as it is; past them a reason that is not error-like goes on wrapped
   * (asUncaught, ERR_UNHANDLED_REJECTION), to 'uncaughtException' listeners
   * (`origin` says where it came from). What an 'unhandledRejection' listener
   * throws is uncaught in turn; what an 'uncaughtException' listener throws
   * ends the process with status 7.
   */
  function fail(err, origin = 'uncaughtException', promise = undefined) {
    if (failed) return false;
    if (promise !== undefined) {
      try {
        if (uncaught?.rejection(err, promise)) return true;
        err = asUncaught(err);
      } catch (again) {
        err = again;
        origin = 'uncaughtException';
      }
    }
    try {
      if (uncaught?.exception(err, origin)) return true;
    } catch (again) {
      fatal(again, 7);
      return false;
    }
    fatal(err);
    return false;
  }

  /**
   * settledLater routes the rejection of what a callback returned (an async
   * callback's promise, which nothing else can reach) to the listeners as
   * Node does an unhandled rejection ('unhandledRejection', else
   * 'uncaughtException' with that origin), or ends the process with it.
   */
  function settledLater(result) {
    if (result instanceof NativePromise) apply(promiseThen, result, [undefined, (err) => void fail(err, 'unhandledRejection', result)]);
  }

  /** fatal ends the process with `err`, listeners or not: the loop's own failures (the kernel refused its timer), which no program code threw. */
  function fatal(err, status = 1) {
    if (failed) return;
    failed = true;
    report(status, describe(err));
  }

  // --- a binary heap of timer records, by (when, seq); cleared records are dropped lazily ---
  function push(rec) {
    let i = heap.length;
    heap[i] = rec;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i], heap[parent])) break;
      const t = heap[i];
      heap[i] = heap[parent];
      heap[parent] = t;
      i = parent;
    }
  }
  function pop() {
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0) {
      heap[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && before(heap[l], heap[m])) m = l;
        if (r < heap.length && before(heap[r], heap[m])) m = r;
        if (m === i) break;
        const t = heap[i];
        heap[i] = heap[m];
        heap[m] = t;
        i = m;
      }
    }
    return top;
  }
  let live = 0;
  /** compact rebuilds the heap from its live records once cleared ones are most of it (set-and-clear loops): amortized O(1) a clear. */
  function compact() {
    if (heap.length <= 64 || heap.length <= 4 * live) return;
    const keep = heap.filter((r) => r.live);
    heap.length = 0;
    for (const r of keep) push(r);
  }
  function earliest() {
    while (heap.length > 0 && !heap[0].live) pop();
    return heap[0];
  }

  function schedule(rec, delay) {
    // A delay that is not a number is converted as Node converts it ('100' is 100 ms).
    const given = typeof delay === 'number' || delay === undefined ? delay : Number(delay);
    const ms = typeof given === 'number' && given > 0 && given <= MAX_DELAY ? given : given > MAX_DELAY ? 1 : 0;
    rec.when = dateNow() + ms;
    rec.seq = seq++;
    rec.live = true;
    live++;
    if (rec.ref) refs++;
    push(rec);
    queueArm();
  }
  function unschedule(rec) {
    if (!rec.live) return;
    rec.live = false;
    live--;
    if (rec.ref) refs--;
    compact();
    queueArm();
  }

  // --- the one kernel timer: armed for the earliest deadline, once per burst of changes (a microtask) ---
  function queueArm() {
    if (armQueued) return;
    armQueued = true;
    apply(promiseThen, resolved, [arm]);
  }
  /** disarm cancels the armed kernel timer, at once (SYS_CANCEL never waits, so it takes the blocking form and no slot). */
  function disarm() {
    cancelNow(armed.id);
    armed = null;
  }
  function arm() {
    armQueued = false;
    if (failed) return;
    const next = earliest();
    if (next === undefined) {
      if (armed !== null) disarm();
      return;
    }
    const ref = refs > 0;
    if (armed !== null && armed.when <= next.when && armed.ref === ref) return;
    if (armed !== null) disarm();
    const mine = { id: 0, when: next.when, ref };
    const [done, handle] = startCall('SYS_TIMER', SYS.SYS_TIMER, [Math.max(0, next.when - dateNow())], ref, true);
    mine.id = handle.id;
    armed = mine;
    apply(promiseThen, done, [
      () => {
        if (armed === mine) armed = null;
        runDue();
        queueArm();
      },
      (err) => {
        if (armed === mine) armed = null;
        const errno = err !== null && typeof err === 'object' ? err.errno : undefined;
        if (errno === 'ECANCELED') return;
        if (errno === 'EAGAIN') {
          starved = true;
          return;
        }
        // Not the program's error: a listener taking it would leave the timers unarmed for good.
        fatal(err);
      },
    ]);
  }

  /**
   * runDue runs every timer due now, in deadline order; timers made meanwhile
   * wait for the next turn. Each callback after the first runs in a microtask
   * of its own, so the promise callbacks an earlier one queued run before it,
   * as in Node.
   */
  function runDue() {
    runDueFrom(dateNow(), seq);
  }
  function runDueFrom(now, last) {
    for (;;) {
      const rec = earliest();
      if (rec === undefined || rec.when > now || rec.seq >= last) return;
      pop();
      rec.live = false;
      live--;
      if (rec.ref) refs--;
      if (rec.interval !== undefined) schedule(rec, rec.interval);
      try {
        settledLater(apply(rec.fn, undefined, rec.args));
      } catch (err) {
        // A listener took it: the timers due with it still run, as in Node.
        if (!fail(err)) return;
      }
      ticks();
      if (failed) return;
      const next = earliest();
      if (next !== undefined && next.when <= now && next.seq < last) {
        apply(promiseThen, resolved, [() => (failed ? undefined : runDueFrom(now, last))]);
        return;
      }
    }
  }

  // --- Node-style handles: ref/unref/hasRef/refresh, and a number when used as one ---
  class Timeout {
    constructor(rec) {
      this._rec = rec;
    }
    ref() {
      const rec = this._rec;
      if (!rec.ref) {
        rec.ref = true;
        if (rec.live) refs++;
        queueArm();
      }
      return this;
    }
    unref() {
      const rec = this._rec;
      if (rec.ref) {
        rec.ref = false;
        if (rec.live) refs--;
        queueArm();
      }
      return this;
    }
    hasRef() {
      return this._rec.ref;
    }
    /** refresh starts the timer's delay over, whether it is pending or has fired (as Node's does). */
    refresh() {
      const rec = this._rec;
      if (rec.cleared) return this;
      unschedule(rec);
      byId.set(rec.id, rec);
      schedule(rec, rec.delay);
      return this;
    }
    close() {
      clear(this);
      return this;
    }
    [Symbol.toPrimitive]() {
      return this._rec.id;
    }
  }
  class Immediate extends Timeout {}

  const byId = new Map();
  function make(Kind, fn, delay, args, repeat) {
    if (typeof fn !== 'function') throw new TypeError(`The "callback" argument must be of type function. Received ${typeof fn}`);
    const rec = { id: nextId++, fn, args, delay, interval: repeat ? Math.max(1, Number(delay) || 1) : undefined, ref: true, live: false, cleared: false, when: 0, seq: 0 };
    const handle = new Kind(rec);
    byId.set(rec.id, rec);
    const origFn = fn;
    rec.fn = repeat
      ? origFn
      : function once(...a) {
          byId.delete(rec.id);
          return apply(origFn, this, a);
        };
    schedule(rec, delay);
    return handle;
  }
  function clear(handle) {
    const rec = handle instanceof Timeout ? handle._rec : byId.get(typeof handle === 'number' ? handle : typeof handle === 'string' ? Number(handle) : NaN);
    if (rec === undefined) return;
    rec.cleared = true;
    unschedule(rec);
    byId.delete(rec.id);
  }

  const timers = {
    setTimeout: (fn, delay, ...args) => make(Timeout, fn, delay, args, false),
    setInterval: (fn, delay, ...args) => make(Timeout, fn, delay, args, true),
    setImmediate: (fn, ...args) => make(Immediate, fn, 0, args, false),
    clearTimeout: clear,
    clearInterval: clear,
    clearImmediate: clear,
    queueMicrotask(fn) {
      if (typeof fn !== 'function') throw new TypeError('The "callback" argument must be of type function');
      apply(promiseThen, resolved, [
        () => {
          try {
            settledLater(fn());
          } catch (err) {
            fail(err);
          }
        },
      ]);
    },
  };

  // --- main, and the exit status it reports (process.exitCode may change it later) ---
  let exitCode = 0;
  let mainDone = false;
  let started = false;
  /** ended: main has settled; the status is reported unless an error ended the process. */
  function ended() {
    mainDone = true;
    if (!failed) report(exitCode, '');
  }
  function start(main) {
    if (started) return;
    started = true;
    // Main's synchronous part runs in a microtask: the first use of a lazily loaded global (a runtime layer the kernel
    // runs in the isolate) then cannot run the program's pending promise callbacks in the middle of a statement, as a
    // nested run's microtask checkpoint did outside one (found by a review). Ordering is as before: main runs to its
    // first await before any callback it queued.
    // The ticks main's synchronous part queued run once it returns, before the promise jobs it queued.
    const result = apply(promiseThen, resolved, [
      () => {
        const running = main();
        ticks();
        return running;
      },
    ]);
    // Main is an ES module's top level: Node hands its error to the listeners as an unhandled rejection, and goes on.
    apply(promiseThen, result, [ended, (err) => (fail(err, 'unhandledRejection') ? ended() : undefined)]);
  }
  function setExitCode(code) {
    exitCode = code;
    if (mainDone && !failed) report(exitCode, '');
  }

  /** completed is told of every batch of completions: a timer the kernel refused for want of a slot is armed again. */
  function completed() {
    if (!starved) return;
    starved = false;
    queueArm();
  }

  /** setTickRunner installs what runs the process.nextTick queue. */
  function setTickRunner(runner) {
    tickRunner = runner;
  }

  /** setUncaught installs the program's listeners for uncaught errors: { rejection(reason, promise), exception(err, origin) }, each true when a listener took it. */
  function setUncaught(listener) {
    uncaught = listener;
  }

  return { timers, start, fail, settledLater, completed, setExitCode, getExitCode: () => exitCode, setUncaught, setTickRunner };
}
