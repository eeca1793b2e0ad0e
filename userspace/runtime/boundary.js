// The syscall boundary of ring 3. The host hands the isolate, before anything
// else runs, these globals, which take() removes at once:
//   __syscall(nr, ...args) -> reply        blocking form
//   __async(flags, nr, ...args) -> reply   asynchronous form; flags: 1 keeps the process alive, 2 the event loop's own
//   __collect(ticket)      -> the reply of a blocked call, once woken (unless it is a number, read from __wake)
//   __wake                 a private SharedArrayBuffer: the flag the kernel raises, and a number reply
//   __settle(code, text)   reports main's end ('' text: returned, with its status) or an uncaught error
//   __layer('source-map')  the program's source map, copied, once (false: none); the runtime layers
//                          ('web', 'node') come through __entry.give before the program runs
//   __boot                 plain copied data (SYS, argv, pid, agentId, limits)
//   __clock()              the kernel's clock (ms), only in a run that is recorded or replayed
//                          (boot.tape): time is then an input the kernel keeps, as syscalls are
// A reply is one tagged union:
//   { t: 'value', v, sig? } | { t: 'fault', errno, message, sig? }
//   | { t: 'wait', ticket }   (blocking form: sleep, then read a number from __wake or collect)
//   | { t: 'queued', id }    (asynchronous form: a completion comes later)
//   | { t: 'busy' }          (asynchronous form: not issued, the kernel holds enough for
//                             this process already; issue it again after a completion)
// Completions enter through complete(batch), which only the kernel holds
// (host-side): batch = [{ id, reply }]. The kernel checks every call again
// and relies on nothing here for safety. It does rely on the bounds here for
// the cost of a call's copy, which isolated-vm makes on the kernel's thread
// before the kernel sees the call: the host's functions are reachable only
// through this closure, and a bounded call is never kept where the agent
// could reach or change it.

import { heldCalls, isBusy } from './held-calls.js';

const apply = Reflect.apply;
const defineProperty = Object.defineProperty;
const isArray = Array.isArray;
const getPrototypeOf = Object.getPrototypeOf;
const ownKeys = Object.keys;
const getOwnPropertyDescriptor = Object.getOwnPropertyDescriptor;
const objectPrototype = Object.prototype;
const hasOwn = Object.prototype.hasOwnProperty;
const typedArrayProto = Object.getPrototypeOf(Uint8Array.prototype);
const byteLengthOf = Object.getOwnPropertyDescriptor(typedArrayProto, 'byteLength').get;
const tagOf = Object.getOwnPropertyDescriptor(typedArrayProto, Symbol.toStringTag).get;
const bufferOf = Object.getOwnPropertyDescriptor(typedArrayProto, 'buffer').get;
const byteOffsetOf = Object.getOwnPropertyDescriptor(typedArrayProto, 'byteOffset').get;
const typedArraySet = typedArrayProto.set;
const arrayBufferLengthOf = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, 'byteLength').get;
const resizableOf = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, 'resizable').get;
const sharedLengthOf = Object.getOwnPropertyDescriptor(SharedArrayBuffer.prototype, 'byteLength').get;
const Uint8ArrayCtor = Uint8Array;

/** isShared: `buffer` is a SharedArrayBuffer (its own getter does not throw). */
function isShared(buffer) {
  try {
    apply(sharedLengthOf, buffer, []);
    return true;
  } catch {
    return false;
  }
}

/**
 * ownBytes is a Uint8Array argument as it may cross: the host copies a
 * view's whole buffer, so a view over part of a larger buffer (a Buffer from
 * a pool, or a one-byte view of 56 MiB, which cost the kernel's loop 64 ms a
 * call), or over a resizable one, crosses as a fresh copy of its own bytes.
 * A view of shared memory crosses as it is, and the kernel refuses it
 * (EINVAL): bytes the agent could change under it.
 */
function ownBytes(view, length) {
  const buffer = apply(bufferOf, view, []);
  let bufferLength;
  try {
    bufferLength = apply(arrayBufferLengthOf, buffer, []);
  } catch {
    // Not an ArrayBuffer: shared memory, which crosses as it is (a detached or odd view copies below).
    if (isShared(buffer)) return view;
  }
  if (bufferLength === length && apply(byteOffsetOf, view, []) === 0 && !apply(resizableOf, buffer, [])) return view;
  const copy = new Uint8ArrayCtor(length);
  apply(typedArraySet, copy, [view]);
  return copy;
}
const atomicsWait = Atomics.wait;
/** wakeKey is a ticket as the wake buffer holds it when its number reply is there (kernel/blocked-reply.ts, WAKE_LAYOUT). */
const wakeKey = (ticket) => (ticket % 2147483646) + 1;
const atomicsLoad = Atomics.load;
const atomicsStore = Atomics.store;
const MapCtor = Map;
const mapGet = Map.prototype.get;
const mapSet = Map.prototype.set;
const mapDelete = Map.prototype.delete;
const PromiseCtor = Promise;

/** put defines an own data property: copies are never built with assignment, push or spread, which the agent can redefine. */
export function put(target, key, value) {
  defineProperty(target, key, { __proto__: null, value, enumerable: true, writable: true, configurable: true });
}

/** take removes the host's globals and returns them. */
export function take(global) {
  const host = {
    enter: global.__syscall,
    enterAsync: global.__async,
    collect: global.__collect,
    wake: new Int32Array(global.__wake, 0, 2),
    wakeNumber: new Float64Array(global.__wake, 8, 1),
    settle: global.__settle,
    layer: global.__layer,
    boot: global.__boot,
    clock: global.__clock,
  };
  delete global.__syscall;
  delete global.__async;
  delete global.__collect;
  delete global.__wake;
  delete global.__settle;
  delete global.__layer;
  delete global.__boot;
  delete global.__clock;
  return host;
}

export class ArgumentError extends Error {
  constructor(errno, message) {
    super(message);
    put(this, 'errno', errno);
  }
}

/** spend takes `units` (and one value) from a call's argument budget; EFBIG once it is spent. */
function spend(budget, units) {
  budget.units -= units;
  if (--budget.nodes < 0 || budget.units < 0) throw new ArgumentError('EFBIG', 'the arguments are larger than one syscall may carry');
}

/** SyscallError is what a failed syscall throws in ring 3. */
export class SyscallError extends Error {
  constructor(syscall, fault) {
    super(fault.message);
    // Defined, not assigned: a setter the agent put on Error.prototype must not run here (it could run in the middle of a drain).
    defineProperty(this, 'name', { value: 'SyscallError', writable: true, enumerable: true, configurable: true });
    defineProperty(this, 'errno', { value: fault.errno, writable: true, enumerable: true, configurable: true });
    defineProperty(this, 'syscall', { value: syscall, writable: true, enumerable: true, configurable: true });
  }
}

/** describe renders an uncaught error for the kernel, never throwing: its stack, then its causes as Node prints them (`[cause]: …`, with a code), five deep at most. */
export function describe(err) {
  let text;
  try {
    text = String((err && err.stack) || err);
  } catch {
    return 'uncaught exception (unprintable)';
  }
  let indent = '';
  for (let at = err, depth = 0; depth < 5; depth++) {
    let cause;
    try {
      cause = at !== null && typeof at === 'object' ? at.cause : undefined;
      if (cause === undefined) break;
      indent += '  ';
      const code = cause !== null && typeof cause === 'object' && typeof cause.code === 'string' ? ` (${cause.code})` : '';
      const shown = String((cause && cause.stack) || (cause && cause.message) || cause);
      text += `\n${indent}[cause]${code}: ${shown.split('\n').join(`\n${indent}`)}`;
    } catch {
      break;
    }
    at = cause;
  }
  return text;
}

/**
 * boundary makes the syscall entry points over the host's globals. Arguments
 * are bounded here first (the host copies them on the kernel's thread before
 * the kernel can look at them): copied into fresh plain data (each value read
 * once), at most boot.argUnits string units and bytes and boot.argNodes
 * values in all, nested at most boot.argDepth deep; anything else is refused
 * without crossing. The kernel decodes and checks every argument again: this
 * bounds its cost, not its safety.
 */
export function boundary(host, onSignals, onCompleted) {
  const { enter, enterAsync, collect, wake, wakeNumber, boot } = host;

  function bounded(value, depth, budget) {
    if (depth > boot.argDepth) throw new ArgumentError('EINVAL', 'the arguments are nested too deeply');
    if (value === null || typeof value !== 'object') {
      if (typeof value === 'function' || typeof value === 'symbol' || typeof value === 'bigint') throw new ArgumentError('EINVAL', 'an argument must be plain data');
      spend(budget, typeof value === 'string' ? value.length : 8);
      return value;
    }
    if (apply(tagOf, value, []) === 'Uint8Array') {
      const length = apply(byteLengthOf, value, []);
      spend(budget, length);
      return ownBytes(value, length);
    }
    const proto = getPrototypeOf(value);
    if (isArray(value)) {
      const length = value.length;
      spend(budget, 8);
      if (length > budget.nodes) throw new ArgumentError('EFBIG', 'the arguments are larger than one syscall may carry');
      const copy = [];
      for (let i = 0; i < length; i++) put(copy, i, bounded(value[i], depth + 1, budget));
      return copy;
    }
    if (proto !== objectPrototype && proto !== null) throw new ArgumentError('EINVAL', 'an argument must be plain data');
    spend(budget, 8);
    const copy = {};
    const keys = ownKeys(value);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      const d = getOwnPropertyDescriptor(value, key);
      if (d === undefined || !apply(hasOwn, d, ['value'])) throw new ArgumentError('EINVAL', 'an argument must be plain data (no getters)');
      spend(budget, key.length);
      put(copy, key, bounded(d.value, depth + 1, budget));
    }
    return copy;
  }
  /** boundedCall returns [nr, ...args] bounded, ready for apply(enter, …). args is a rest-parameter array (built natively). */
  function boundedCall(nr, args) {
    const budget = { units: boot.argUnits, nodes: boot.argNodes };
    const out = [];
    put(out, 0, bounded(nr, 0, budget));
    for (let i = 0; i < args.length; i++) put(out, i + 1, bounded(args[i], 0, budget));
    return out;
  }

  /** plain turns a wire reply into what `syscall()` returns: { v } or { errno, message }; signals it carries run first. */
  function plain(reply) {
    if (reply === null || typeof reply !== 'object') return { errno: 'EIO', message: 'malformed reply' };
    if (reply.sig !== undefined) onSignals(reply.sig);
    if (reply.t === 'value') return { v: reply.v };
    if (reply.t === 'fault') return { errno: reply.errno, message: reply.message };
    return { errno: 'EIO', message: 'malformed reply' };
  }

  /** rawSyscall is the blocking form: a blocked call ({ t: 'wait' }) sleeps until the kernel raises the flag, then reads its number reply from the wake buffer or collects any other. */
  function rawSyscall(nr, args) {
    let checked;
    try {
      checked = boundedCall(nr, args);
    } catch (err) {
      if (err instanceof ArgumentError) return { errno: err.errno, message: err.message };
      throw err;
    }
    let reply = apply(enter, undefined, checked);
    if (reply !== null && typeof reply === 'object' && reply.t === 'wait') {
      while (atomicsLoad(wake, 0) === 0) atomicsWait(wake, 0, 0);
      // A number reply rides in the shared buffer, keyed by its ticket (kernel/blocked-reply.ts, WAKE_LAYOUT); any other is collected.
      const inBuffer = typeof reply.ticket === 'number' && atomicsLoad(wake, 1) === wakeKey(reply.ticket);
      atomicsStore(wake, 0, 0);
      reply = inBuffer ? { __proto__: null, t: 'value', v: wakeNumber[0] } : collect(reply.ticket);
    }
    return plain(reply);
  }

  // --- asynchronous calls: id -> { resolve, reject, name } ---
  const outstanding = new MapCtor();
  const BUSY = { t: 'busy' };

  /** issue sends a bounded call; returns the kernel's wire reply. */
  function issue(wire) {
    return apply(enterAsync, undefined, wire);
  }

  /** settleStarted turns a wire reply into the call's outcome: pending (registered by id) or settled at once. */
  function settleStarted(reply, name, resolve, reject) {
    if (reply !== null && typeof reply === 'object' && reply.t === 'queued') {
      apply(mapSet, outstanding, [reply.id, { resolve, reject, name }]);
      return reply.id;
    }
    const result = plain(reply);
    if ('errno' in result) reject(new SyscallError(name, result));
    else resolve(result.v);
    return 0;
  }

  // Calls the kernel answered `busy`, and what must wait behind them (held-calls.js).
  const held = heldCalls(boot, issue, (reply, entry) => (entry.handle.id = settleStarted(reply, entry.name, entry.resolve, entry.reject)));

  /**
   * startCall makes an asynchronous syscall and returns [promise, handle]:
   * handle.id is the kernel's id once the call is issued (0 when it was
   * answered at once or still waits here), handle.cancel() cancels it
   * wherever it is. The kernel keeps the process alive while a `ref` call is
   * outstanding (the event loop arms its timer unref'd when only unref'd
   * timers are left); `loop` calls (the event loop's timer and cancels) have
   * slots of their own.
   */
  function startCall(name, nr, args, ref, loop) {
    const handle = { id: 0, cancel: undefined };
    let checked;
    try {
      checked = boundedCall(nr, args);
    } catch (err) {
      if (err instanceof ArgumentError) return [PromiseCtor.reject(new SyscallError(name, err)), handle];
      throw err;
    }
    const wire = [];
    put(wire, 0, (ref === true ? 1 : 0) | (loop === true ? 2 : 0));
    for (let i = 0; i < checked.length; i++) put(wire, i + 1, checked[i]);
    const kind = held.kindOf(nr, checked);
    const reply = loop !== true && held.mustWait(kind) ? BUSY : issue(wire);
    const promise = new PromiseCtor((resolve, reject) => {
      if (isBusy(reply)) handle.cancel = held.hold(kind, { __proto__: null, wire, name, resolve, reject, handle });
      else handle.id = settleStarted(reply, name, resolve, reject);
    });
    return [promise, handle];
  }

  /** complete settles the promises of a batch of completions; an id that is not outstanding is ignored. */
  function complete(batch) {
    if (!isArray(batch)) return;
    for (let i = 0; i < batch.length; i++) {
      const entry = batch[i];
      if (entry === null || typeof entry !== 'object') continue;
      const call = apply(mapGet, outstanding, [entry.id]);
      if (call === undefined) continue;
      apply(mapDelete, outstanding, [entry.id]);
      const result = plain(entry.reply);
      if ('errno' in result) call.reject(new SyscallError(call.name, result));
      else call.resolve(result.v);
    }
    held.drain();
    onCompleted();
  }

  return { rawSyscall, startCall, complete };
}
