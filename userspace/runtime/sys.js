// The `sys` object: libc-like wrappers over the syscalls, in a blocking form
// (sys.open, …: the isolate sleeps until the reply) and an asynchronous one
// (sys.async.open, …: a promise; many can be outstanding).
import { SyscallError } from './boundary.js';
import { decodeUtf8, encodeUtf8 } from './utf8.js';

const freeze = Object.freeze;
const CHUNK = 65536;

/** join concatenates byte chunks. */
function join(parts, total) {
  const all = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return all;
}

/** makeSys builds sys over the boundary's calls; `boot` is the kernel's copied boot record. */
export function makeSys(boot, rawSyscall, startCall, handlers) {
  const SYS = boot.SYS;
  function call(name, ...args) {
    const reply = rawSyscall(SYS[name], args);
    if ('errno' in reply) throw new SyscallError(name, reply);
    return reply.v;
  }
  /**
   * callAsync starts an asynchronous call; an AbortSignal in `signal` cancels
   * it. A call still waiting in the runtime is dropped and rejects with the
   * signal's reason at once. An issued one is cancelled in the kernel
   * (SYS_CANCEL) and its completion decides: ECANCELED rejects with the
   * reason; a call the kernel had already finished keeps its result (found
   * by a review: a read that completed as its timeout fired was reported
   * aborted, and the bytes it took were lost).
   */
  function callAsync(name, args, signal) {
    if (signal !== undefined && signal !== null && signal.aborted) return Promise.reject(signal.reason);
    const [promise, handle] = startCall(name, SYS[name], args, true);
    if (signal === undefined || signal === null) return promise;
    return new Promise((resolve, reject) => {
      let aborted = false;
      const onAbort = () => {
        if (handle.id === 0) {
          if (handle.cancel !== undefined) handle.cancel(signal.reason);
          reject(signal.reason);
          return;
        }
        aborted = true;
        startCall('SYS_CANCEL', SYS.SYS_CANCEL, [handle.id], false)[0].catch(() => undefined);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      promise.then(
        (v) => {
          signal.removeEventListener('abort', onAbort);
          resolve(v);
        },
        (err) => {
          signal.removeEventListener('abort', onAbort);
          reject(aborted && err !== null && typeof err === 'object' && err.errno === 'ECANCELED' ? signal.reason : err);
        },
      );
    });
  }
  const WRITE_MAX = boot.writeMax;
  const READDIR_PAGE = boot.readdirPage;

  function toBytes(data) {
    return typeof data === 'string' && data.length * 3 <= WRITE_MAX ? data : typeof data === 'string' ? encodeUtf8(data) : data;
  }
  /** writeWhole opens `path` with `mode` and writes all of `data` in pieces of at most WRITE_MAX bytes. */
  function writeWhole(path, mode, data) {
    const bytes = toBytes(data);
    const fd = call('SYS_OPEN', path, mode);
    try {
      if (typeof bytes === 'string' || bytes.length <= WRITE_MAX) call('SYS_WRITE', fd, bytes);
      else for (let at = 0; at < bytes.length; at += WRITE_MAX) call('SYS_WRITE', fd, bytes.subarray(at, at + WRITE_MAX));
    } finally {
      call('SYS_CLOSE', fd);
    }
  }
  async function writeWholeAsync(path, mode, data) {
    const bytes = toBytes(data);
    const fd = await callAsync('SYS_OPEN', [path, mode]);
    try {
      if (typeof bytes === 'string' || bytes.length <= WRITE_MAX) await callAsync('SYS_WRITE', [fd, bytes]);
      else for (let at = 0; at < bytes.length; at += WRITE_MAX) await callAsync('SYS_WRITE', [fd, bytes.subarray(at, at + WRITE_MAX)]);
    } finally {
      await callAsync('SYS_CLOSE', [fd]);
    }
  }
  function readAll(path) {
    const fd = call('SYS_OPEN', path, 'r');
    try {
      const parts = [];
      let total = 0;
      for (;;) {
        const chunk = call('SYS_READ', fd, CHUNK);
        if (chunk.length === 0) return join(parts, total);
        parts.push(chunk);
        total += chunk.length;
      }
    } finally {
      call('SYS_CLOSE', fd);
    }
  }
  async function readAllAsync(path) {
    const fd = await callAsync('SYS_OPEN', [path, 'r']);
    try {
      const parts = [];
      let total = 0;
      for (;;) {
        const chunk = await callAsync('SYS_READ', [fd, CHUNK]);
        if (chunk.length === 0) return join(parts, total);
        parts.push(chunk);
        total += chunk.length;
      }
    } finally {
      await callAsync('SYS_CLOSE', [fd]);
    }
  }
  function readdirAll(page, path) {
    const all = [];
    const more = (after) => page(path, after);
    for (let after = ''; ; ) {
      const entries = more(after);
      for (let i = 0; i < entries.length; i++) all.push(entries[i]);
      if (entries.length < READDIR_PAGE) return all;
      after = entries[entries.length - 1].name;
    }
  }
  async function readdirAllAsync(path) {
    const all = [];
    for (let after = ''; ; ) {
      const entries = await callAsync('SYS_READDIR', [path, after]);
      for (let i = 0; i < entries.length; i++) all.push(entries[i]);
      if (entries.length < READDIR_PAGE) return all;
      after = entries[entries.length - 1].name;
    }
  }

  const async = freeze({
    open: (path, flags = 'r', options) => callAsync('SYS_OPEN', [path, flags], options?.signal),
    read: (fd, length = CHUNK, options) => callAsync('SYS_READ', [fd, length], options?.signal),
    write: (fd, data, options) => callAsync('SYS_WRITE', [fd, data], options?.signal),
    close: (fd) => callAsync('SYS_CLOSE', [fd]),
    stat: (path) => callAsync('SYS_STAT', [path]),
    readdir: (path = '.') => readdirAllAsync(path),
    mkdir: (path, options) => callAsync('SYS_MKDIR', [path, Boolean(options && options.recursive)]),
    unlink: (path) => callAsync('SYS_UNLINK', [path]),
    exec: (tool, args, options) => callAsync('SYS_EXEC', [tool, args], options?.signal),
    spawn: (program, argv = [], options = {}) => callAsync('SYS_SPAWN', [program, argv, options]),
    wait: (pid, options) => callAsync('SYS_WAIT', [pid], options?.signal),
    checkpoint: () => callAsync('SYS_CHECKPOINT', []),
    sleep: (ms, options) => callAsync('SYS_TIMER', [ms], options?.signal),
    random: (length) => callAsync('SYS_RANDOM', [length]),
    readFile: async (path) => decodeUtf8(await readAllAsync(path)),
    readFileBytes: (path) => readAllAsync(path),
    writeFile: (path, data) => writeWholeAsync(path, 'w', data),
    appendFile: (path, data) => writeWholeAsync(path, 'a', data),
  });

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
    readdir: (path = '.') => readdirAll((p, after) => call('SYS_READDIR', p, after), path),
    mkdir: (path, options) => call('SYS_MKDIR', path, Boolean(options && options.recursive)),
    unlink: (path) => call('SYS_UNLINK', path),
    getpid: () => call('SYS_GETPID'),
    exec: (tool, args) => call('SYS_EXEC', tool, args),
    spawn: (program, argv = [], options = {}) => call('SYS_SPAWN', program, argv, options),
    wait: (pid) => call('SYS_WAIT', pid),
    pipe: () => call('SYS_PIPE'),
    checkpoint: () => call('SYS_CHECKPOINT'),
    /** sleep blocks the whole isolate for `ms` (timers and promises wait too); prefer `await sys.async.sleep(ms)`. */
    sleep: (ms) => call('SYS_TIMER', ms),
    random: (length) => call('SYS_RANDOM', length),
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
    readFile: (path) => decodeUtf8(readAll(path)),
    readFileBytes: (path) => readAll(path),
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
    async,
  };
  return { sys: freeze(sys), call, callAsync };
}
