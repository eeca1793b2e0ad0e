// The agent-side runtime (ring 3), bundled by the kernel into one script that
// runs in every isolate before the agent program. It takes the host's
// globals (boundary.js), installs `syscall`, `SYS`, `sys`, the event loop's
// timers, the web globals (userspace/web), Node's `process`, `Buffer` and
// built-in modules (userspace/node), and `__start`, which the kernel's
// program wrapper calls exactly once. It leaves the kernel's entry points
// (signal delivery, completions) in `__entry`, which the kernel takes and
// removes before the program runs. Everything here is untrusted: the kernel
// relies on none of it.
import { boundary, describe, take } from './boundary.js';
import { eventLoop } from './loop.js';
import { makeSys } from './sys.js';
import { makeTransport } from './transport.js';
import { encodeUtf8 } from './utf8.js';
import { installWebGlobals } from '../web/install.js';
import { WEB_GLOBAL_NAMES } from '../web/names.js';
import { fastConsole } from './console.js';
import { installTapeClock } from './tape.js';
import { installStackMap } from './stack-map.js';

const global = globalThis;
const host = take(global);
const boot = host.boot;
const freeze = Object.freeze;
const defineProperty = Object.defineProperty;
const apply = Reflect.apply;
const promiseThen = Promise.prototype.then;
const NativePromise = Promise;
const promiseReject = Promise.reject;

// --- signals: handlers run at the syscall boundary (a reply carrying `sig`)
// or, when the program is idle, when the kernel calls deliver() ---
const handlers = new Map();
let loop;
function deliver(signals) {
  for (const name of signals) {
    const handler = handlers.get(name);
    if (handler === undefined) continue;
    try {
      // An async handler's rejection is an unhandled rejection, as an async listener's is in Node.
      loop.settledLater(handler(name));
    } catch (err) {
      loop.fail(err);
    }
  }
}

const { rawSyscall, startCall, complete } = boundary(host, deliver, () => loop.completed());
const SYS = freeze(boot.SYS);
const { sys, call } = makeSys(boot, rawSyscall, startCall, handlers);
// A recorded or replayed run reads time from the kernel (tape.js); any other reads the isolate's clock.
const dateNow = typeof host.clock === 'function' ? installTapeClock(global, host.clock, (n) => call('SYS_RANDOM', n)) : Date.now;
loop = eventLoop({ startCall, cancelNow: (id) => rawSyscall(SYS.SYS_CANCEL, [id]), SYS, report: host.settle, describe, dateNow });

const constant = (name, value) => defineProperty(global, name, { value, writable: false, enumerable: false, configurable: false });
/** A platform global: writable and configurable, as the platform's are (polyfills and tests replace them). */
const platform = (name, value) => defineProperty(global, name, { value, writable: true, enumerable: false, configurable: true });
/** lazy defines a platform global built on first access. */
const lazy = (name, build) =>
  defineProperty(global, name, {
    get() {
      const value = build();
      platform(name, value);
      return value;
    },
    set(value) {
      platform(name, value);
    },
    enumerable: false,
    configurable: true,
  });

constant('syscall', freeze((nr, ...args) => rawSyscall(nr, args)));
constant('SYS', SYS);
constant('sys', sys);
for (const name of ['setTimeout', 'setInterval', 'setImmediate', 'clearTimeout', 'clearInterval', 'clearImmediate', 'queueMicrotask']) platform(name, loop.timers[name]);

// --- layers: the web globals' builders and Node's modules, for a program
// whose text names them (kernel/program-layers.ts): the kernel gives each
// (`give`, through __entry) before the program's script runs at all, as a
// function that runs here, on first use, and returns its exports. Any other
// stays out: made in the middle of the program, a layer would run
// isolated-vm's end-of-call work on the kernel's thread ---
const LAYER_NAMES = {
  web: 'the web globals (URL, fetch, TextEncoder, console formatting…)',
  node: "Node's globals and modules (process, Buffer, node:…)",
};
const given = new Map();
const layers = new Map();
const failedLayers = new Map();
const give = (name, make) => {
  if ((name === 'web' || name === 'node') && typeof make === 'function' && !given.has(name)) given.set(name, make);
};
function layer(name) {
  let exports = layers.get(name);
  if (exports !== undefined) return exports;
  if (failedLayers.has(name)) throw failedLayers.get(name);
  const make = given.get(name);
  if (typeof make !== 'function') {
    throw new ReferenceError(`${LAYER_NAMES[name] ?? `runtime layer ${name}`} are loaded only for a program whose text names one of them; this one reached one by a computed name`);
  }
  // Run once, whatever comes of it: a program that replaced the globals a layer calls gets the same error each time.
  given.delete(name);
  try {
    exports = make();
  } catch (err) {
    failedLayers.set(name, err);
    throw err;
  }
  layers.set(name, exports);
  return exports;
}

// A built program's stack traces name the author's files and lines (its source map comes in on first need).
if (typeof boot.bundle === 'string') installStackMap(Error, boot.bundle, () => host.layer('source-map'));

const timeOrigin = dateNow();
const write = (fd, text) => void call('SYS_WRITE', fd, text);
const randomBytes = (n) => call('SYS_RANDOM', n);
const now = () => dateNow() - timeOrigin;
const kernel = { randomBytes, now, timeOrigin, write, transport: makeTransport(sys, encodeUtf8) };
installWebGlobals(global, kernel, WEB_GLOBAL_NAMES, () => layer('web').WEB_GLOBALS);
// console: plain values print without loading the web layer's formatter (Node's util.inspect).
platform('console', fastConsole(write, () => layer('web').WEB_GLOBALS.console(kernel)));

const home = `/agent/${boot.agentId}`;
let loadBuiltin;
const load = (name) => {
  loadBuiltin ??= layer('node').nodeBuiltins(nodeEnv);
  return loadBuiltin(name);
};
const nodeEnv = {
  sys,
  sysAsync: sys.async,
  argv: ['/usr/local/bin/agent', boot.program, ...boot.argv],
  env: boot.env,
  pid: boot.pid,
  ppid: boot.ppid,
  exit: (code) => sys.exit(code),
  write: (fd, data) => call('SYS_WRITE', fd, data),
  randomBytes,
  now,
  cwd: home,
  platformTimers: loop.timers,
  getExitCode: loop.getExitCode,
  setExitCode: loop.setExitCode,
  setUncaught: loop.setUncaught,
  setTickRunner: loop.setTickRunner,
};
lazy('process', () => load('process'));
lazy('Buffer', () => load('buffer').Buffer);
platform('global', global);
// Programs built by the kernel reach Node's built-in modules through this (their `import 'node:fs'`).
constant(Symbol.for('agent-kernel.builtin'), freeze((name) => load(name)));

defineProperty(global, '__start', {
  value(main) {
    delete global.__start;
    // The layers the program's code names run now, before main, while the globals they call are the platform's.
    for (const name of boot.layers ?? []) layer(name);
    loop.start(main);
  },
  writable: false,
  enumerable: false,
  configurable: true,
});
// Signals the kernel delivers to an idle program run their handlers in a microtask, as main does (loop.js start): the
// first use of a lazily loaded global in a handler then cannot run the program's pending promise callbacks in the
// middle of it (found by a review). At a syscall boundary they run where the program is, as before.
const resolved = Promise.resolve();
const deliverIdle = (signals) => void apply(promiseThen, resolved, [() => deliver(signals)]);
// A promise the program rejected with no handler, which the isolate reported to the kernel at the end of the call it
// was rejected in: the listeners take it (Node passes them the promise too; this one stands in for it, handled), or it
// ends the process. Its reason is the isolate's copy: an error keeps its message and stack (and its type if a built-in
// one), another object comes as an Error saying what it was.
const rejected = (reason) =>
  void apply(promiseThen, resolved, [
    () => {
      const promise = apply(promiseReject, NativePromise, [reason]);
      apply(promiseThen, promise, [undefined, () => {}]);
      loop.fail(reason, 'unhandledRejection', promise);
    },
  ]);
// The kernel takes these (host-side) and deletes the global before the program runs.
defineProperty(global, '__entry', { value: { deliver: deliverIdle, complete, rejected, give }, writable: false, enumerable: false, configurable: true });
