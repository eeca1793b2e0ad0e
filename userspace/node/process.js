// `process`: an EventEmitter carrying argv, env, exit/exitCode, pid, cwd(),
// hrtime, nextTick, stdout/stderr and the rest of what libraries read.
// versions has no `node` key and release.name is 'agent-kernel', so
// libraries take their portable paths rather than Node-only ones.

/** createProcess returns the process object. */
export function createProcess(env, load) {
  const EventEmitter = load('events');
  const process = new EventEmitter();
  // Signal listeners are the kernel's signal handlers (SYS_SIGACTION): the first listener for a signal installs a
  // handler that emits it here, and removing the last one restores the signal's default action, as in Node. A signal
  // agents may not catch (SIGKILL, SIGSTOP…) or that the kernel does not have (SIGHUP…) keeps its listeners, which
  // never run, as on a platform without that signal; libraries that listen for many signals still load.
  const installed = new Set();
  process.on('newListener', (event) => {
    if (typeof event !== 'string' || !/^SIG[A-Z0-9]+$/.test(event) || installed.has(event)) return;
    try {
      env.sys.signal.on(event, (name) => process.emit(event, name));
      installed.add(event);
    } catch {
      // not a signal this agent can catch
    }
  });
  process.on('removeListener', (event) => {
    if (!installed.has(event) || process.listenerCount(event) > 0) return;
    installed.delete(event);
    env.sys.signal.reset(event);
  });
  let exitCode;
  const getExitCode = () => (env.getExitCode ? env.getExitCode() : exitCode);
  const setExitCode = (code) => {
    exitCode = code;
    if (env.setExitCode) env.setExitCode(code);
  };

  // nextTick: one queue, run when the callback that queued ticks returns —
  // main's synchronous part, a timer's callback (the event loop calls it,
  // env.setTickRunner) — before the promise jobs it queued, as in Node; and
  // drained in a microtask otherwise (ticks queued in a promise job run
  // after the jobs already queued), ticks queued by ticks first.
  const queueMicrotask = (env.platformTimers && env.platformTimers.queueMicrotask) || globalThis.queueMicrotask || ((fn) => Promise.resolve().then(fn));
  const ticks = [];
  let draining = false;
  const runTicks = () => {
    while (ticks.length > 0) {
      const [fn, args] = ticks.shift();
      fn(...args);
    }
  };
  const drain = () => {
    try {
      runTicks();
    } finally {
      if (ticks.length > 0) queueMicrotask(drain);
      else draining = false;
    }
  };

  if (env.setTickRunner) env.setTickRunner(runTicks);

  const stream = (fd) => {
    const s = new EventEmitter();
    s.fd = fd;
    s.isTTY = false;
    s.writable = true;
    s.write = (chunk, encoding, cb) => {
      if (typeof encoding === 'function') cb = encoding;
      const data = typeof chunk === 'string' ? chunk : chunk instanceof Uint8Array ? chunk : String(chunk);
      env.write(fd, data);
      if (typeof cb === 'function') process.nextTick(cb);
      return true;
    };
    s.end = (chunk, encoding, cb) => {
      if (typeof chunk === 'function') cb = chunk;
      else if (chunk !== undefined && chunk !== null) s.write(chunk, encoding);
      if (typeof cb === 'function') process.nextTick(cb);
      return s;
    };
    s.hasColors = () => false;
    s.getColorDepth = () => 1;
    return s;
  };
  const stdin = new EventEmitter();
  stdin.fd = 0;
  stdin.isTTY = false;

  const started = env.now();
  const hrtime = (previous) => {
    const ns = Math.round(env.now() * 1e6);
    let s = Math.floor(ns / 1e9);
    let n = ns % 1e9;
    if (previous) {
      s -= previous[0];
      n -= previous[1];
      if (n < 0) {
        s--;
        n += 1e9;
      }
    }
    return [s, n];
  };
  hrtime.bigint = () => BigInt(Math.round(env.now() * 1e6));

  Object.assign(process, {
    title: 'agent',
    argv: env.argv.slice(),
    argv0: env.argv[0] || 'agent',
    execArgv: [],
    execPath: '/agent-kernel',
    env: { ...env.env },
    pid: env.pid,
    ppid: env.ppid ?? 0,
    platform: 'linux',
    arch: 'x64',
    version: '',
    versions: {},
    release: { name: 'agent-kernel' },
    config: { variables: {} },
    features: {},
    stdout: stream(1),
    stderr: stream(2),
    stdin,
    cwd: () => env.cwd,
    chdir: (dir) => {
      const err = new Error(`process.chdir() is not supported in an agent (the working directory is ${env.cwd}); asked for ${dir}`);
      err.code = 'ERR_WORKER_UNSUPPORTED_OPERATION';
      throw err;
    },
    umask: () => 0o022,
    hrtime,
    uptime: () => (env.now() - started) / 1000,
    memoryUsage: Object.assign(() => ({ rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 }), { rss: () => 0 }),
    cpuUsage: () => ({ user: 0, system: 0 }),
    nextTick(fn, ...args) {
      if (typeof fn !== 'function') throw new TypeError('The "callback" argument must be of type function');
      ticks.push([fn, args]);
      if (!draining) {
        draining = true;
        queueMicrotask(drain);
      }
    },
    emitWarning(warning, type, code) {
      if (typeof type === 'object' && type !== null) ({ type, code } = type);
      const name = warning instanceof Error ? warning.name : type || 'Warning';
      const text = warning instanceof Error ? warning.message : String(warning);
      if (process.listenerCount('warning') > 0) {
        const w = warning instanceof Error ? warning : Object.assign(new Error(text), { name, code });
        process.nextTick(() => process.emit('warning', w));
        return;
      }
      env.write(2, `(agent:${env.pid}) ${code ? `[${code}] ` : ''}${name}: ${text}\n`);
    },
    exit(code) {
      if (code !== undefined) setExitCode(code);
      const final = getExitCode() ?? 0;
      try {
        process.emit('exit', final);
      } finally {
        env.exit(final);
      }
    },
    abort: () => env.exit(134),
    kill: (pid, signal = 'SIGTERM') => {
      env.sys.kill(pid, signal);
      return true;
    },
    binding: (name) => {
      throw new Error(`No such module: ${name}`);
    },
  });
  // Errors nobody caught go to 'uncaughtExceptionMonitor', then to 'uncaughtException' if anyone listens (the process
  // goes on), as in Node; a promise rejected with no handler (an async callback's, or one the isolate reported to the
  // kernel, which hands it back: runtime/index.js `rejected`) goes to 'unhandledRejection' listeners first (loop.js fail).
  if (env.setUncaught) {
    env.setUncaught({
      rejection(reason, promise) {
        if (process.listenerCount('unhandledRejection') === 0) return false;
        process.emit('unhandledRejection', reason, promise);
        return true;
      },
      exception(err, origin) {
        process.emit('uncaughtExceptionMonitor', err, origin);
        if (process.listenerCount('uncaughtException') === 0) return false;
        process.emit('uncaughtException', err, origin);
        return true;
      },
    });
  }
  Object.defineProperty(process, 'exitCode', {
    get: getExitCode,
    set(code) {
      setExitCode(code === undefined || code === null ? code : Number(code));
    },
    enumerable: true,
    configurable: true,
  });
  return process;
}
