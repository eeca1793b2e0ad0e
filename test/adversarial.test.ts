/**
 * Adversarial agents: each test is a real agent program trying to reach the
 * host from inside its isolate. Every attempt must fail inside the isolate,
 * and the kernel must stay up: after each test a well-behaved agent runs to
 * completion in the same kernel. The kernel allows every syscall and tool by
 * policy, so only the sandbox stands between an agent and the host.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Kernel } from '../kernel/kernel.ts';
import { parsePolicy } from '../kernel/policy/load.ts';
import { programFromSource } from '../kernel/program.ts';
import type { DecisionInput } from '../syscalls/records.ts';
import { WEB_GLOBAL_NAMES } from '../userspace/web/names.js';
import { capture, runAgent, type RunResult } from './helpers.ts';
import { until } from './until.ts';

const TIMERS = ['setTimeout', 'setInterval', 'setImmediate', 'clearTimeout', 'clearInterval', 'clearImmediate', 'queueMicrotask'];

const execArgs: unknown[] = [];
let records = 0;
const kernel = new Kernel({
  policy: parsePolicy('version: 1\nrules:\n  - id: allow-all\n    effect: allow\n', 'allow-all.yaml'),
  // A recorder that keeps SYS_EXEC's decoded arguments, to look at what decoding made of them.
  recorder: {
    record(entry: DecisionInput): number {
      if (entry.type === 'syscall' && entry.syscall === 'SYS_EXEC') execArgs.push(entry.args?.args);
      return ++records;
    },
    beforeAction: () => undefined,
  },
});
const TOOLS = { manifest: { capabilities: ['tool:*'] } };

/**
 * Ring-3 helpers every probe starts with: report, and a search for host-realm
 * objects. The isolate has a `process` of its own (Node's module for agent
 * programs, from the runtime): a host one would be Node's, with `dlopen`,
 * `versions.node` and release name 'node'.
 */
const PRELUDE = String.raw`
const report = (escaped, detail) => console.log(JSON.stringify({ escaped, detail }));
const hostProcess = (p) => p !== null && typeof p === 'object' && (typeof p.dlopen === 'function' || (p.versions !== undefined && p.versions.node !== undefined) || (p.release !== undefined && p.release.name === 'node'));
function hostish(x) {
  if (x === null || (typeof x !== 'object' && typeof x !== 'function')) return false;
  try { if ('require' in x || hostProcess(x.process) || hostProcess(x)) return true; } catch (e) {}
  try {
    const F = x.constructor && x.constructor.constructor;
    if (typeof F === 'function' && (F('return typeof require')() !== 'undefined' || hostProcess(F('return typeof process === "undefined" ? null : process')()))) return true;
  } catch (e) {}
  return false;
}
function chain(x) { const out = []; for (let o = x, i = 0; o !== null && o !== undefined && i < 32; o = Object.getPrototypeOf(o), i++) out.push(o); return out; }
const scan = (values) => values.flatMap(chain).filter(hostish).map((o) => { try { return String(o.constructor.name); } catch (e) { return '?'; } });
`;

async function attempt(body: string): Promise<{ escaped: boolean; detail: unknown; result: RunResult }> {
  const result = await runAgent(PRELUDE + body, { kernel, filename: 'adversary.js', ...TOOLS });
  expect(result.stderr).toBe('');
  expect(result.exit, result.stdout).toMatchObject({ status: 0, reason: { kind: 'exit' } });
  const last = result.stdout.trimEnd().split('\n').at(-1) ?? '';
  return { ...(JSON.parse(last) as { escaped: boolean; detail: unknown }), result };
}

afterEach(async () => {
  const { exit, stdout } = await runAgent("sys.writeFile('mem/working/ok', 'fine'); console.log('still up', sys.readFile('mem/working/ok'), 6 * 7);", { kernel });
  expect(exit.status).toBe(0);
  expect(stdout).toBe('still up fine 42\n');
});

afterAll(() => {
  expect(kernel.ps()).toEqual([]);
  expect(kernel.liveIsolates()).toBe(0);
});

/** What `process` is in ring 3: the runtime's, never the host's. */
const RING3_PROCESS = 'agent-kernel/undefined/undefined';
/** SYS_EXEC of a tool nobody registered: ENOSYS before the tool registry, ENOENT after. */
const UNKNOWN_TOOL = expect.stringMatching(/^(ENOSYS|ENOENT)$/);

describe('escape attempts, each failing inside the isolate', () => {
  it.each([
    ['this.constructor.constructor', 'this.constructor.constructor'],
    ['sys.open.constructor', 'sys.open.constructor'],
    ['syscall.constructor', 'syscall.constructor'],
    ['console.log.constructor.constructor', 'console.log.constructor.constructor'],
    ['sys.SyscallError.constructor', 'sys.SyscallError.constructor'],
  ])('%s("return process")() finds only the runtime\'s process, no host one', async (_name, expr) => {
    const { escaped, detail } = await attempt(`let got; try { const p = ${expr}('return process')(); got = [p.release.name, typeof p.versions.node, typeof p.dlopen].join('/'); } catch (e) { got = e.name + ': ' + e.message; }
      report(hostProcess(${expr}('return process')()) || scan([${expr}('return this')()]).length > 0, got);`);
    expect(detail).toBe(RING3_PROCESS);
    expect(escaped).toBe(false);
  });

  it('prototype chains of everything the kernel returns lead to no host object', async () => {
    const { escaped, detail } = await attempt(`
      const dir = sys.readdir('.'); const st = sys.stat('.');
      sys.writeFile('mem/working/probe', 'abc'); const fd = sys.open('mem/working/probe'); const bytes = sys.read(fd); sys.close(fd);
      const fault = syscall(SYS.SYS_STAT, 'missing'); let thrown; try { sys.stat('missing'); } catch (e) { thrown = e; }
      const all = [dir, dir[0], st, bytes, bytes.buffer, fault, thrown, syscall(SYS.SYS_GETPID), syscall, sys, SYS, console];
      report(scan(all).length > 0, { found: scan(all), sameRealm: [Object.getPrototypeOf(dir) === Array.prototype, Object.getPrototypeOf(st) === Object.prototype,
        Object.getPrototypeOf(bytes) === Uint8Array.prototype, bytes.buffer instanceof ArrayBuffer, Object.getPrototypeOf(fault) === Object.prototype, thrown instanceof sys.SyscallError],
        fault, bytes: Array.from(bytes) });`);
    expect(detail).toEqual({ found: [], sameRealm: [true, true, true, true, true, true], fault: { errno: 'ENOENT', message: expect.any(String) }, bytes: [97, 98, 99] });
    expect(escaped).toBe(false);
  });

  it('Error.prepareStackTrace CallSites yield no host this, function or file', async () => {
    const { escaped, detail } = await attempt(`
      const sites = [];
      Error.prepareStackTrace = (err, cs) => { sites.push(...cs); return 'hidden'; };
      (function deep() { return new Error('x').stack; })();
      try { syscall(SYS.SYS_STAT, new Proxy({}, {})); } catch (e) { void e.stack; }
      try { sys.stat('missing'); } catch (e) { void e.stack; }
      try { syscall(SYS.SYS_WRITE, 1, () => 1); } catch (e) { void e.stack; }
      Error.prepareStackTrace = undefined;
      const files = [...new Set(sites.map((s) => String(s.getFileName())))].sort();
      report(scan(sites.flatMap((s) => [s.getThis(), s.getFunction()])).length > 0 || files.some((f) => f.startsWith('node:') || f.includes('/')), { files, many: sites.length > 5 });`);
    expect(detail).toEqual({ files: ['adversary.js', 'agent-runtime.js'], many: true });
    expect(escaped).toBe(false);
  });

  it('Proxies as syscall arguments: their traps run only in the isolate (the runtime copies arguments into plain data before they cross), never in the host', async () => {
    const { escaped, detail } = await attempt(`
      const trapped = [], outcomes = [];
      const where = () => (typeof require !== 'undefined' || hostProcess(globalThis.process) ? 'host' : 'isolate');
      const handler = { get(t, k, r) { trapped.push(where()); return Reflect.get(t, k, r); }, ownKeys(t) { trapped.push(where()); return Reflect.ownKeys(t); } };
      for (const [nr, args] of [[SYS.SYS_STAT, [new Proxy({}, handler)]], [SYS.SYS_WRITE, [1, new Proxy(new Uint8Array(4), handler)]],
        [SYS.SYS_OPEN, [new Proxy(['mem'], handler), 'r']], [SYS.SYS_EXEC, ['tool', new Proxy({ a: 1 }, handler)]], [new Proxy({}, handler), []]]) {
        try { const r = syscall(nr, ...args); outcomes.push(r.errno || 'accepted'); } catch (e) { outcomes.push(e.name); }
      }
      report(trapped.some((t) => t !== 'isolate') || outcomes.some((o) => o === 'accepted'), { outcomes, trapped: [...new Set(trapped)] });`);
    // The Proxy of an array is copied as ['mem'] (a list where a path goes: EINVAL); the exec arguments as { a: 1 } (no such tool); the Proxy number as {} (no such syscall).
    expect(detail).toEqual({ outcomes: ['EINVAL', 'EINVAL', 'EINVAL', UNKNOWN_TOOL, 'ENOSYS'], trapped: ['isolate'] });
    expect(escaped).toBe(false);
  });

  it('getters and toString/valueOf on arguments run only in the isolate, or not at all', async () => {
    const { escaped, detail } = await attempt(`
      const seen = [], outcomes = []; let coerced = 0;
      const getter = (v) => Object.defineProperty({}, 'x', { enumerable: true, get() { seen.push(typeof process + '/' + typeof require); return v; } });
      const thrower = Object.defineProperty({}, 'x', { enumerable: true, get() { throw new Error('getter ran'); } });
      const sneaky = { toString() { coerced++; return 'mem'; }, valueOf() { coerced++; return 1; } };
      const call = (nr, ...args) => { try { const r = syscall(nr, ...args); outcomes.push(r.errno || 'v'); } catch (e) { outcomes.push(e instanceof TypeError ? 'TypeError' : e.message); } };
      call(SYS.SYS_EXEC, 'no-such-tool', getter('y')); call(SYS.SYS_STAT, getter('mem')); call(SYS.SYS_EXEC, 'no-such-tool', thrower);
      call(SYS.SYS_STAT, sneaky); call(SYS.SYS_READ, sneaky, sneaky); call(SYS.SYS_WRITE, sneaky, sneaky);
      report(seen.some((s) => s !== 'undefined/undefined') || coerced > 0, { seen, outcomes, coerced });`);
    // The runtime refuses accessors and functions without running them: no getter runs anywhere, nothing is coerced.
    expect(detail).toEqual({ seen: [], outcomes: ['EINVAL', 'EINVAL', 'EINVAL', 'EINVAL', 'EINVAL', 'EINVAL'], coerced: 0 });
    expect(escaped).toBe(false);
  });

  it('oversized arguments are refused in the isolate before they cross, even with the builtins the runtime copies with redefined', async () => {
    const { escaped, detail, result } = await attempt(`
      const many = []; for (let i = 0; i < 250000; i++) many.push({ a: i });
      let deep = 'x'; for (let i = 0; i < 64; i++) deep = [deep];
      const outcomes = [];
      const call = (arg) => { const r = syscall(SYS.SYS_EXEC, 'no-such-tool', arg); outcomes[outcomes.length] = r.errno; };
      call({ many }); call({ deep }); call({ s: 'x'.repeat(4 << 20) });
      // Redefined push, spread and a descriptor 'value' on Object.prototype must not let anything through.
      const { push } = Array.prototype, iterator = Array.prototype[Symbol.iterator];
      const accessor = Object.defineProperty({}, 'k', { get() { return many; }, enumerable: true });
      Object.prototype.get = function () { return many; };
      Array.prototype.push = function () { this[this.length] = many; return this.length; };
      Array.prototype[Symbol.iterator] = function* () { yield SYS.SYS_GETPID; yield many; };
      Object.defineProperty(Object.prototype, 'value', { get() { return many; }, configurable: true });
      call({ list: [1] }); call(accessor);
      delete Object.prototype.value; delete Object.prototype.get; Array.prototype.push = push; Array.prototype[Symbol.iterator] = iterator;
      report(false, { outcomes });`);
    expect(detail).toEqual({ outcomes: ['EFBIG', 'EINVAL', 'EFBIG', UNKNOWN_TOOL, 'EINVAL'] });
    // Only the small call (copied as it was) and the report crossed into the kernel.
    expect(result.exit.syscalls).toBe(2);
    expect(execArgs.at(-1)).toEqual({ list: [1] });
    expect(escaped).toBe(false);
  });

  it('dynamic import of fs, child_process or isolated-vm rejects', async () => {
    const { escaped, detail } = await attempt(`
      const out = [];
      for (const m of ['fs', 'node:child_process', 'isolated-vm', './agent-runtime.js', 'data:text/javascript,export default 1']) {
        try { await import(m); out.push(m + ': loaded'); } catch (e) { out.push(e.name); }
      }
      report(out.some((o) => o.endsWith('loaded')), out);`);
    expect(detail).toEqual(['Error', 'Error', 'Error', 'Error', 'Error']);
    expect(escaped).toBe(false);
  });

  it('eval, Function and its async/generator cousins cannot name require, nor a host process', async () => {
    const { escaped, detail } = await attempt(`
      const out = {};
      const tries = { eval: () => eval('require'), indirect: () => (0, eval)('process'), Function: () => new Function('return require')(),
        async: () => (async function () {}).constructor('return process')(), generator: () => (function* () {}).constructor('yield require')().next() };
      for (const [k, f] of Object.entries(tries)) { try { const v = await f(); out[k] = hostProcess(v) ? 'host process' : v !== null && typeof v === 'object' && v.release ? v.release.name : typeof v; } catch (e) { out[k] = e.name; } }
      report(Object.values(out).some((v) => v !== 'ReferenceError' && v !== 'agent-kernel'), out);`);
    expect(detail).toEqual({ eval: 'ReferenceError', indirect: 'agent-kernel', Function: 'ReferenceError', async: 'agent-kernel', generator: 'ReferenceError' });
    expect(escaped).toBe(false);
  });

  it('no host global and none of the boot-time hooks is reachable', async () => {
    const { escaped, detail } = await attempt(`
      const names = ['require', 'module', 'exports', 'ivm', '_ivm', '__syscall', '__async', '__collect', '__wake', '__settle', '__layer', '__boot', '__start', '__entry', '__register'];
      const present = names.filter((n) => n in globalThis || typeof globalThis[n] !== 'undefined');
      report(present.length > 0, present);`);
    expect(detail).toEqual([]);
    expect(escaped).toBe(false);
  });

  it('code smuggled out of the program wrapper runs after the runtime hid its hooks', async () => {
    const body = `}, (globalThis.probe = [typeof __syscall, typeof __async, typeof __collect, typeof __wake, typeof __settle, typeof __layer, typeof __boot, typeof __entry].join()));
      console.log(JSON.stringify({ escaped: globalThis.probe !== 'undefined,undefined,undefined,undefined,undefined,undefined,undefined,undefined', detail: globalThis.probe }));
      (function () {`;
    const { escaped, detail } = await attempt(body);
    expect(detail).toBe('undefined,undefined,undefined,undefined,undefined,undefined,undefined,undefined');
    expect(escaped).toBe(false);
  });

  // console, timers and the web globals are writable like the platform's (polyfills replace them); the kernel's own names are not.
  it('sys, syscall and SYS cannot be deleted, replaced, redefined or extended', async () => {
    const { escaped, detail } = await attempt(`
      const open = sys.open, raw = syscall, read = SYS.SYS_READ;
      const results = [Reflect.deleteProperty(globalThis, 'sys'), Reflect.deleteProperty(globalThis, 'syscall'),
        Reflect.set(globalThis, 'sys', {}), Reflect.defineProperty(globalThis, 'syscall', { value: () => 0 }),
        Reflect.defineProperty(globalThis, 'SYS', { value: {} }), Reflect.set(sys, 'open', () => 0), Reflect.set(SYS, 'SYS_READ', 99), Reflect.set(sys.async, 'open', () => 0),
        Reflect.setPrototypeOf(sys, null), Reflect.setPrototypeOf(syscall, null), Reflect.set(sys, 'extra', 1), Reflect.set(syscall, 'extra', 1)];
      try { sys = 1; } catch (e) {}
      const descriptors = ['sys', 'syscall', 'SYS'].map((n) => { const d = Object.getOwnPropertyDescriptor(globalThis, n); return d.configurable || d.writable; });
      const unchanged = sys.open === open && syscall === raw && SYS.SYS_READ === read && Object.isFrozen(sys) && Object.isFrozen(syscall);
      report(results.some(Boolean) || descriptors.some(Boolean) || !unchanged, { results, descriptors, unchanged });`);
    expect(detail).toEqual({ results: Array(12).fill(false), descriptors: [false, false, false], unchanged: true });
    expect(escaped).toBe(false);
  });
});

describe('the global scope', () => {
  // JavaScript's own globals in this V8; anything else would have come from the host.
  const BUILTINS = ['AggregateError', 'Array', 'ArrayBuffer', 'AsyncDisposableStack', 'Atomics', 'BigInt', 'BigInt64Array', 'BigUint64Array', 'Boolean', 'DataView',
    'Date', 'DisposableStack', 'Error', 'EvalError', 'FinalizationRegistry', 'Float16Array', 'Float32Array', 'Float64Array', 'Function', 'Infinity', 'Int16Array',
    'Int32Array', 'Int8Array', 'Intl', 'Iterator', 'JSON', 'Map', 'Math', 'NaN', 'Number', 'Object', 'Promise', 'Proxy', 'RangeError', 'ReferenceError', 'Reflect',
    'RegExp', 'Set', 'SharedArrayBuffer', 'String', 'SuppressedError', 'Symbol', 'SyntaxError', 'TypeError', 'URIError', 'Uint16Array', 'Uint32Array', 'Uint8Array',
    'Uint8ClampedArray', 'WeakMap', 'WeakRef', 'WeakSet', 'WebAssembly', 'decodeURI', 'decodeURIComponent', 'encodeURI', 'encodeURIComponent', 'escape', 'eval',
    'globalThis', 'isFinite', 'isNaN', 'parseFloat', 'parseInt', 'undefined', 'unescape'];

  it('holds only JavaScript builtins plus the runtime: sys, SYS, syscall, the timers, the web globals, process, Buffer and global', async () => {
    const { exit, stdout } = await runAgent('console.log(JSON.stringify(Reflect.ownKeys(globalThis).map(String)));', { kernel });
    expect(exit.status).toBe(0);
    const names = JSON.parse(stdout) as string[];
    const runtime = ['SYS', 'sys', 'syscall', 'console', ...TIMERS, ...WEB_GLOBAL_NAMES, 'process', 'Buffer', 'global', 'Symbol(agent-kernel.builtin)'];
    expect(names.filter((n) => !BUILTINS.includes(n)).toSorted()).toEqual([...new Set(runtime)].toSorted());
  });
});

describe('resource attacks end only the attacker', () => {
  it('a huge allocation is killed at the memory limit (132) while a neighbour lives on and finishes with 0', async () => {
    const out = capture();
    const neighbour = kernel.spawn(
      programFromSource('neighbour.js', `for (let i = 0; i < 20; i++) sys.writeFile('mem/working/n' + i, String(i));
        sys.signal.on('SIGINT', () => { console.log('done', sys.readdir('mem/working').length, sys.readFile('mem/working/n19')); sys.exit(0); });
        console.log('ready'); await new Promise(() => {});`),
      { agentId: 'neighbour', stdout: out.sink, stderr: out.sink },
    );
    await until(() => out.text === 'ready\n' && kernel.get(neighbour.pid)?.state === 'blocked', () => `the neighbour to be ready and idle (printed ${JSON.stringify(out.text)})`);
    const hog = kernel.spawn(programFromSource('hog.js', 'const keep = []; while (true) keep.push(new Array(1e5).fill(1));'), { memoryLimitMib: 32 });
    const hogExit = await kernel.wait(hog.pid);
    expect(hogExit.status).toBe(132);
    expect(hogExit.reason).toEqual({ kind: 'signal', signal: 'SIGKILL', why: 'memory limit exceeded' });
    expect(kernel.get(neighbour.pid)?.state).toBe('blocked');
    kernel.kill(neighbour.pid, 'SIGINT');
    expect((await kernel.wait(neighbour.pid)).status).toBe(0);
    expect(out.text).toBe('ready\ndone 20 19\n');
  });

  it('string doubling stops at V8 string length with status 1 and a RangeError', async () => {
    const { exit } = await runAgent("let s = 'x'; while (true) s += s;", { kernel, filename: 'double.js' });
    expect(exit.status).toBe(1);
    expect(exit.reason).toEqual({ kind: 'error', error: 'RangeError: Invalid string length\n    at main (double.js:1:32)' });
  });

  it('unbounded recursion ends with status 1 and a RangeError', async () => {
    const { exit } = await runAgent('function f() { f(); }\nf();', { kernel, filename: 'recurse.js' });
    expect(exit.status).toBe(1);
    if (exit.reason.kind !== 'error') throw new Error(JSON.stringify(exit.reason));
    expect(exit.reason.error).toMatch(/^RangeError: Maximum call stack size exceeded\n {4}at f \(recurse\.js:1:16\)\n/);
  });

  it('an uncaught copy error reports only the agent stack, no host paths', async () => {
    const { exit } = await runAgent('// line 1\nconst u = new Uint8Array(8); u.buffer.transfer(); syscall(SYS.SYS_WRITE, 1, u);', { kernel, filename: 'uncaught.js' });
    expect(exit.status).toBe(1);
    expect(exit.reason).toEqual({ kind: 'error', error: 'TypeError: An ArrayBuffer is detached and could not be cloned.\n    at main (uncaught.js:2:51)' });
  });
});

describe('argument smuggling', () => {
  it('SharedArrayBuffer-backed write data is EINVAL', async () => {
    const { escaped, detail } = await attempt(`
      const shared = new Uint8Array(new SharedArrayBuffer(8)).fill(65); let wrapped;
      try { sys.write(1, shared); wrapped = 'written'; } catch (e) { wrapped = e.errno; }
      const r = syscall(SYS.SYS_WRITE, 1, shared);
      report(r.errno !== 'EINVAL' || wrapped !== 'EINVAL', [r.errno, wrapped]);`);
    expect(detail).toEqual(['EINVAL', 'EINVAL']);
    expect(escaped).toBe(false);
  });

  it('an own __proto__ key in SYS_EXEC args stays an ordinary key: no pollution anywhere', async () => {
    execArgs.length = 0;
    const { escaped, detail } = await attempt(`
      const r = syscall(SYS.SYS_EXEC, 'no-such-tool', JSON.parse('{"__proto__": {"polluted": "yes"}, "nested": [{"__proto__": {"polluted": "deep"}}]}'));
      report(({}).polluted !== undefined, [r.errno, ({}).polluted === undefined]);`);
    expect(detail).toEqual([UNKNOWN_TOOL, true]);
    expect(escaped).toBe(false);
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
    const decoded = execArgs[0] as Record<string, { polluted: string }>;
    expect(Object.getPrototypeOf(decoded)).toBeNull();
    expect(Object.hasOwn(decoded, '__proto__')).toBe(true);
    expect(decoded['__proto__']?.polluted).toBe('yes');
  });

  it('2 MiB in one SYS_WRITE is EFBIG, as bytes or as text', async () => {
    const { escaped, detail } = await attempt(`
      const big = new Uint8Array(2 * 1024 * 1024);
      const out = [syscall(SYS.SYS_WRITE, 1, big).errno, syscall(SYS.SYS_WRITE, 1, 'x'.repeat(2 * 1024 * 1024)).errno,
        syscall(SYS.SYS_WRITE, 1, '\u00e9'.repeat(600 * 1024)).errno];
      report(out.some((e) => e !== 'EFBIG'), out);`);
    expect(detail).toEqual(['EFBIG', 'EFBIG', 'EFBIG']);
    expect(escaped).toBe(false);
  });
});
