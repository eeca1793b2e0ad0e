// The agent-side runtime (ring 3). Runs inside the isolate before the agent
// program, with host-provided globals it removes at once:
//   __syscall(nr, ...args) -> { v } | { errno, message } | { wait: ticket }
//   __collect(ticket)      -> the reply of a blocked syscall, once woken
//   __wake                 a private SharedArrayBuffer flag the kernel raises
//   __settle(code, text)   reports main's end
//   __boot = { SYS, argv, pid, agentId }   plain copied data
// It installs `syscall`, `SYS`, `sys` and `console` (all frozen) and
// `__start`, which the kernel's program wrapper calls exactly once.
// Everything here is untrusted: the kernel relies on none of it.
(function (global) {
  'use strict';
  const enter = global.__syscall;
  const collect = global.__collect;
  const wake = new Int32Array(global.__wake);
  const settle = global.__settle;
  const boot = global.__boot;
  delete global.__syscall;
  delete global.__collect;
  delete global.__wake;
  delete global.__settle;
  delete global.__boot;
  const atomicsWait = Atomics.wait;
  const atomicsLoad = Atomics.load;
  const atomicsStore = Atomics.store;

  function describe(err) {
    try {
      return String((err && err.stack) || err);
    } catch {
      return 'uncaught exception (unprintable)';
    }
  }

  // --- signals: handlers run at the syscall boundary (a reply carrying `sig`)
  // or, when the program is idle, when the kernel calls deliver() ---
  const handlers = new Map();
  function deliver(signals) {
    for (const name of signals) {
      const handler = handlers.get(name);
      if (handler === undefined) continue;
      try {
        const result = handler(name);
        if (result !== null && typeof result === 'object' && typeof result.then === 'function') {
          apply(promiseThen, result, [undefined, (err) => settle(1, describe(err))]);
        }
      } catch (err) {
        settle(1, describe(err));
      }
    }
  }

  // --- arguments: the host copies them on the kernel's thread before the
  // kernel can look at them, so they are bounded here first: copied into
  // fresh plain data (each value read once), at most boot.argUnits string
  // units and bytes and boot.argNodes values in all, nested at most
  // boot.argDepth deep; anything else is refused without crossing. The
  // kernel decodes and checks every argument again: this bounds its cost,
  // not its safety. ---
  const isArray = Array.isArray;
  const getPrototypeOf = Object.getPrototypeOf;
  const ownKeys = Object.keys;
  const getOwnPropertyDescriptor = Object.getOwnPropertyDescriptor;
  const objectPrototype = Object.prototype;
  const hasOwn = Object.prototype.hasOwnProperty;
  const typedArrayProto = Object.getPrototypeOf(Uint8Array.prototype);
  const byteLengthOf = Object.getOwnPropertyDescriptor(typedArrayProto, 'byteLength').get;
  const tagOf = Object.getOwnPropertyDescriptor(typedArrayProto, Symbol.toStringTag).get;
  // Copies are built with defineProperty and handed over with Reflect.apply,
  // never push, spread or plain assignment, which the agent can redefine.
  function put(target, key, value) {
    defineProperty(target, key, { __proto__: null, value, enumerable: true, writable: true, configurable: true });
  }
  class ArgumentError extends Error {
    constructor(errno, message) {
      super(message);
      put(this, 'errno', errno);
    }
  }
  // boundedCall returns [nr, ...args] bounded, ready for apply(enter, …).
  function boundedCall(nr, args) {
    const budget = { units: boot.argUnits, nodes: boot.argNodes };
    const out = [];
    put(out, 0, bounded(nr, 0, budget));
    for (let i = 0; i < args.length; i++) put(out, i + 1, bounded(args[i], 0, budget));
    return out;
  }
  function spend(budget, units) {
    budget.units -= units;
    if (--budget.nodes < 0 || budget.units < 0) throw new ArgumentError('EFBIG', 'the arguments are larger than one syscall may carry');
  }
  function bounded(value, depth, budget) {
    if (depth > boot.argDepth) throw new ArgumentError('EINVAL', 'the arguments are nested too deeply');
    if (value === null || typeof value !== 'object') {
      if (typeof value === 'function' || typeof value === 'symbol' || typeof value === 'bigint') throw new ArgumentError('EINVAL', 'an argument must be plain data');
      spend(budget, typeof value === 'string' ? value.length : 8);
      return value;
    }
    if (apply(tagOf, value, []) === 'Uint8Array') {
      spend(budget, apply(byteLengthOf, value, []));
      return value;
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

  // A blocked syscall (approval, a stopped process, a pipe, …) answers
  // { wait }: sleep until the kernel raises the flag, then collect the reply.
  // args is a rest-parameter array (built natively, not by the agent's iterator).
  function rawSyscall(nr, args) {
    let checked;
    try {
      checked = boundedCall(nr, args);
    } catch (err) {
      if (err instanceof ArgumentError) return { errno: err.errno, message: err.message };
      throw err;
    }
    let reply = apply(enter, undefined, checked);
    if (reply !== null && typeof reply === 'object' && 'wait' in reply) {
      while (atomicsLoad(wake, 0) === 0) atomicsWait(wake, 0, 0);
      atomicsStore(wake, 0, 0);
      reply = collect(reply.wait);
    }
    if (reply !== null && typeof reply === 'object' && reply.sig !== undefined) deliver(reply.sig);
    return reply;
  }

  const freeze = Object.freeze;
  const defineProperty = Object.defineProperty;
  const apply = Reflect.apply;
  const promiseThen = Promise.prototype.then;
  const stringify = JSON.stringify;
  const SYS = freeze(boot.SYS);

  // --- UTF-8 (isolates have no TextEncoder/TextDecoder) ---
  function encodeUtf8(text) {
    const s = String(text);
    const out = [];
    for (let i = 0; i < s.length; i++) {
      let c = s.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
        const d = s.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          i++;
        }
      }
      if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
      if (c < 0x80) out.push(c);
      else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
      else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
      else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    }
    return new Uint8Array(out);
  }

  function decodeUtf8(bytes) {
    let out = '';
    for (let i = 0; i < bytes.length; ) {
      const b = bytes[i++];
      let c;
      if (b < 0x80) c = b;
      else if (b >= 0xc0 && b < 0xe0 && i < bytes.length) c = ((b & 31) << 6) | (bytes[i++] & 63);
      else if (b >= 0xe0 && b < 0xf0 && i + 1 < bytes.length) c = ((b & 15) << 12) | ((bytes[i++] & 63) << 6) | (bytes[i++] & 63);
      else if (b >= 0xf0 && i + 2 < bytes.length) c = ((b & 7) << 18) | ((bytes[i++] & 63) << 12) | ((bytes[i++] & 63) << 6) | (bytes[i++] & 63);
      else c = 0xfffd;
      out += String.fromCodePoint(c);
    }
    return out;
  }

  // --- errors ---
  class SyscallError extends Error {
    constructor(syscall, fault) {
      super(fault.message);
      this.name = 'SyscallError';
      this.errno = fault.errno;
      this.syscall = syscall;
    }
  }

  function call(name, ...args) {
    const reply = rawSyscall(SYS[name], args);
    if (reply !== null && typeof reply === 'object' && 'errno' in reply) throw new SyscallError(name, reply);
    return reply.v;
  }

  const CHUNK = 65536;
  /** The most one SYS_WRITE carries; larger data goes in pieces. */
  const WRITE_MAX = boot.writeMax;

  /** writeWhole opens `path` with `mode` and writes all of `data` in pieces of at most WRITE_MAX bytes. */
  function writeWhole(path, mode, data) {
    const bytes = typeof data === 'string' && data.length * 3 <= WRITE_MAX ? data : typeof data === 'string' ? encodeUtf8(data) : data;
    const fd = call('SYS_OPEN', path, mode);
    try {
      if (typeof bytes === 'string' || bytes.length <= WRITE_MAX) call('SYS_WRITE', fd, bytes);
      else for (let at = 0; at < bytes.length; at += WRITE_MAX) call('SYS_WRITE', fd, bytes.subarray(at, at + WRITE_MAX));
    } finally {
      call('SYS_CLOSE', fd);
    }
  }
  const READDIR_PAGE = boot.readdirPage;
  const sys = {
    SyscallError,
    args: freeze(boot.argv.slice()),
    pid: boot.pid,
    agentId: boot.agentId,
    open: (path, flags = 'r') => call('SYS_OPEN', path, flags),
    read: (fd, length = CHUNK) => call('SYS_READ', fd, length),
    write: (fd, data) => call('SYS_WRITE', fd, data),
    close: (fd) => call('SYS_CLOSE', fd),
    stat: (path) => call('SYS_STAT', path),
    /** readdir lists a whole directory, a page (SYS_READDIR) at a time. */
    readdir(path = '.') {
      const all = [];
      for (let after = ''; ; ) {
        const page = call('SYS_READDIR', path, after);
        for (let i = 0; i < page.length; i++) all.push(page[i]);
        if (page.length < READDIR_PAGE) return all;
        after = page[page.length - 1].name;
      }
    },
    mkdir: (path, options) => call('SYS_MKDIR', path, Boolean(options && options.recursive)),
    unlink: (path) => call('SYS_UNLINK', path),
    getpid: () => call('SYS_GETPID'),
    exec: (tool, args) => call('SYS_EXEC', tool, args),
    /** spawn starts a child from a program path in this agent's tree or a registered program name. */
    spawn: (program, argv = [], options = {}) => call('SYS_SPAWN', program, argv, options),
    /** wait blocks until child `pid` exits and returns { pid, status, signal }. */
    wait: (pid) => call('SYS_WAIT', pid),
    /** pipe returns [readFd, writeFd]. */
    pipe: () => call('SYS_PIPE'),
    /** checkpoint snapshots mem/ under state/checkpoints/<n>. */
    checkpoint: () => call('SYS_CHECKPOINT'),
    kill: (pid, signal) => call('SYS_SIGNAL', pid, String(signal)),
    signal: freeze({
      /** on installs `handler` for a catchable signal (SIGINT, SIGTERM, SIGUSR1). */
      on(signal, handler) {
        if (typeof handler !== 'function') throw new TypeError('handler must be a function');
        const name = call('SYS_SIGACTION', String(signal), 'handle');
        handlers.set(name, handler);
      },
      ignore: (signal) => void handlers.delete(call('SYS_SIGACTION', String(signal), 'ignore')),
      reset: (signal) => void handlers.delete(call('SYS_SIGACTION', String(signal), 'default')),
      /** mask holds signals pending; returns the mask in force (unblockable signals never in it). */
      mask: (signals) => call('SYS_SIGPROCMASK', 'block', signals.map(String)),
      unmask: (signals) => call('SYS_SIGPROCMASK', 'unblock', signals.map(String)),
      setMask: (signals) => call('SYS_SIGPROCMASK', 'set', signals.map(String)),
    }),
    checkPolicy: (syscall, args) => call('SYS_CHECKPOLICY', syscall, args),
    exit(code = 0) {
      call('SYS_EXIT', code);
      throw new Error('exit did not stop the process');
    },
    /** readFile reads a whole file as UTF-8 text. */
    readFile(path) {
      const fd = call('SYS_OPEN', path, 'r');
      try {
        const parts = [];
        let total = 0;
        for (;;) {
          const chunk = call('SYS_READ', fd, CHUNK);
          if (chunk.length === 0) break;
          parts.push(chunk);
          total += chunk.length;
        }
        const all = new Uint8Array(total);
        let at = 0;
        for (const p of parts) {
          all.set(p, at);
          at += p.length;
        }
        return decodeUtf8(all);
      } finally {
        call('SYS_CLOSE', fd);
      }
    },
    /** writeFile replaces a file's contents with `data` (text or bytes, any size: written a piece at a time). */
    writeFile(path, data) {
      writeWhole(path, 'w', data);
    },
    /** appendFile adds `data` to the end of a file, creating it if needed. */
    appendFile(path, data) {
      writeWhole(path, 'a', data);
    },
    encodeUtf8,
    decodeUtf8,
  };

  function show(value) {
    if (typeof value === 'string') return value;
    if (value instanceof Error) return value.stack || String(value);
    if (typeof value === 'function') return `[Function ${value.name || 'anonymous'}]`;
    if (value instanceof Uint8Array) return `Uint8Array(${value.length}) [ ${Array.prototype.slice.call(value, 0, 32).join(', ')}${value.length > 32 ? ', ...' : ''} ]`;
    try {
      const text = stringify(value);
      return text === undefined ? String(value) : text;
    } catch {
      return String(value);
    }
  }
  const line = (values) => `${values.map(show).join(' ')}\n`;
  const console = {
    log: (...values) => void call('SYS_WRITE', 1, line(values)),
    info: (...values) => void call('SYS_WRITE', 1, line(values)),
    debug: (...values) => void call('SYS_WRITE', 1, line(values)),
    error: (...values) => void call('SYS_WRITE', 2, line(values)),
    warn: (...values) => void call('SYS_WRITE', 2, line(values)),
  };

  let started = false;
  function start(main) {
    if (started) return;
    started = true;
    delete global.__start;
    let result;
    try {
      result = main();
    } catch (err) {
      settle(1, describe(err));
      return;
    }
    apply(promiseThen, result, [() => settle(0, ''), (err) => settle(1, describe(err))]);
  }

  const constant = (name, value) => defineProperty(global, name, { value, writable: false, enumerable: false, configurable: false });
  constant('syscall', freeze((nr, ...args) => rawSyscall(nr, args)));
  constant('SYS', SYS);
  constant('sys', freeze(sys));
  constant('console', freeze(console));
  defineProperty(global, '__start', { value: start, writable: false, enumerable: false, configurable: true });
  // The kernel keeps this (host-side) to run handlers in an idle program.
  return deliver;
})(globalThis);
