// Runs userspace/node in a real isolate over a test env: the bundle is built
// with esbuild as the agent build will (platform browser, iife), and env.sys /
// env.sysAsync are a fake file system inside the isolate that fails with
// SyscallError-shaped errors ({ errno, syscall, message }), as the runtime's do.
import { build } from 'esbuild';
import ivm from 'isolated-vm';
import { fileURLToPath } from 'node:url';

const INDEX = fileURLToPath(new URL('../../userspace/node/index.js', import.meta.url));

/** buildNodeBundle bundles index.js into an iife that sets globalThis.__node. */
export async function buildNodeBundle(minify = false): Promise<string> {
  const result = await build({
    stdin: { contents: `import * as node from ${JSON.stringify(INDEX)}; globalThis.__node = node;`, resolveDir: process.cwd(), loader: 'js' },
    bundle: true,
    platform: 'browser',
    format: 'iife',
    write: false,
    minify,
    logLevel: 'silent',
  });
  return result.outputFiles[0]!.text;
}

// The test env, evaluated in the isolate before the bundle. __hostTimer(id, ms)
// is a host callback that calls __fire(id) back after ms.
const TEST_ENV = String.raw`
(function () {
  class SyscallError extends Error {
    constructor(syscall, fault) { super(fault.message); this.name = 'SyscallError'; this.errno = fault.errno; this.syscall = syscall; }
  }
  const fail = (syscall, errno, message) => { throw new SyscallError(syscall, { errno, message }); };
  const HOME = '/agent/a1';
  const norm = (p) => {
    const parts = [];
    for (const s of (p.startsWith('/') ? p : HOME + '/' + p).split('/')) {
      if (s === '' || s === '.') continue;
      if (s === '..') parts.pop(); else parts.push(s);
    }
    return '/' + parts.join('/');
  };
  const parent = (p) => p.slice(0, p.lastIndexOf('/')) || '/';
  const utf8 = (s) => Uint8Array.from(unescape(encodeURIComponent(s)), (c) => c.charCodeAt(0));
  const nodes = new Map([['/', { type: 'dir' }], ['/agent', { type: 'dir' }], [HOME, { type: 'dir' }], ['/etc', { type: 'dir' }], ['/etc/locked', { type: 'file', data: new Uint8Array(0), mtimeMs: 1 }]]);
  const fds = new Map();
  let nextFd = 3;
  const now = () => Date.now();
  const sys = {
    open(path, flags = 'r') {
      const p = norm(path);
      if (p.startsWith('/etc') && flags !== 'r') fail('SYS_OPEN', 'EACCES', 'policy rule etc.readonly denies writing ' + p);
      let node = nodes.get(p);
      if (node && node.type === 'dir') fail('SYS_OPEN', 'EISDIR', 'is a directory');
      if (!node) {
        if (flags[0] === 'r') fail('SYS_OPEN', 'ENOENT', 'no such file: ' + p);
        const up = nodes.get(parent(p));
        if (!up) fail('SYS_OPEN', 'ENOENT', 'no parent directory');
        if (up.type !== 'dir') fail('SYS_OPEN', 'ENOTDIR', 'parent is not a directory');
        node = { type: 'file', data: new Uint8Array(0), mtimeMs: now() };
        nodes.set(p, node);
      }
      if (flags[0] === 'w') node.data = new Uint8Array(0);
      const fd = nextFd++;
      fds.set(fd, { node, pos: 0, flags });
      return fd;
    },
    read(fd, length = 65536) {
      const f = fds.get(fd);
      if (!f) fail('SYS_READ', 'EBADF', 'bad fd');
      if (f.flags === 'w' || f.flags === 'a') fail('SYS_READ', 'EBADF', 'not open for reading');
      const out = f.node.data.slice(f.pos, f.pos + length);
      f.pos += out.length;
      return out;
    },
    write(fd, data) {
      const bytes = typeof data === 'string' ? utf8(data) : new Uint8Array(data);
      if (fd === 1 || fd === 2) { globalThis.__out.push([fd, typeof data === 'string' ? data : String.fromCharCode(...bytes)]); return bytes.length; }
      const f = fds.get(fd);
      if (!f) fail('SYS_WRITE', 'EBADF', 'bad fd');
      if (f.flags === 'r') fail('SYS_WRITE', 'EBADF', 'not open for writing');
      const at = f.flags[0] === 'a' ? f.node.data.length : f.pos;
      const grown = new Uint8Array(Math.max(f.node.data.length, at + bytes.length));
      grown.set(f.node.data);
      grown.set(bytes, at);
      f.node.data = grown;
      f.node.mtimeMs = now();
      f.pos = at + bytes.length;
      return bytes.length;
    },
    close(fd) { if (!fds.delete(fd)) fail('SYS_CLOSE', 'EBADF', 'bad fd'); },
    stat(path) {
      const node = nodes.get(norm(path));
      if (!node) fail('SYS_STAT', 'ENOENT', 'no such file');
      return node.type === 'dir' ? { type: 'dir', size: 0, mtimeMs: 0 } : { type: 'file', size: node.data.length, mtimeMs: node.mtimeMs };
    },
    readdir(path = '.') {
      const p = norm(path);
      const node = nodes.get(p);
      if (!node) fail('SYS_READDIR', 'ENOENT', 'no such directory');
      if (node.type !== 'dir') fail('SYS_READDIR', 'ENOTDIR', 'not a directory');
      const prefix = p === '/' ? '/' : p + '/';
      const out = [];
      for (const [k, v] of nodes) if (k !== p && k.startsWith(prefix) && !k.slice(prefix.length).includes('/')) out.push({ name: k.slice(prefix.length), type: v.type });
      return out.sort((a, b) => (a.name < b.name ? -1 : 1));
    },
    mkdir(path, options) {
      const p = norm(path);
      if (nodes.has(p)) { if (options && options.recursive && nodes.get(p).type === 'dir') return; fail('SYS_MKDIR', 'EEXIST', 'exists'); }
      if (!nodes.has(parent(p))) { if (!(options && options.recursive)) fail('SYS_MKDIR', 'ENOENT', 'no parent'); sys.mkdir(parent(p), options); }
      nodes.set(p, { type: 'dir' });
    },
    unlink(path) {
      const p = norm(path);
      const node = nodes.get(p);
      if (!node) fail('SYS_UNLINK', 'ENOENT', 'no such file');
      if (node.type === 'dir' && sys.readdir(p).length > 0) fail('SYS_UNLINK', 'ENOTEMPTY', 'not empty');
      nodes.delete(p);
    },
    kill() { return 'delivered'; },
  };
  const sysAsync = {};
  for (const [name, fn] of Object.entries(sys)) sysAsync[name] = (...args) => Promise.resolve().then(() => fn(...args));
  const timers = new Map();
  let nextTimer = 1;
  const arm = (fn, ms, repeat) => { const id = nextTimer++; timers.set(id, { fn, ms, repeat }); __hostTimer(id, ms); return id; };
  globalThis.__fire = (id) => {
    const t = timers.get(id);
    if (!t) return;
    if (t.repeat) __hostTimer(id, t.ms); else timers.delete(id);
    t.fn();
  };
  const clear = (id) => void timers.delete(id);
  class ExitSignal { constructor(code) { this.code = code; } }
  let exitCode;
  globalThis.__out = [];
  globalThis.__exits = [];
  globalThis.__ExitSignal = ExitSignal;
  globalThis.__env = {
    sys, sysAsync,
    argv: ['/agent/a1/bin/prog.js', 'one', 'two'],
    env: { HOME, GREETING: 'hi' },
    pid: 7, ppid: 1,
    cwd: HOME,
    exit(code) { globalThis.__exits.push(code); throw new ExitSignal(code); },
    write: (fd, data) => sys.write(fd, data),
    randomBytes: (n) => Uint8Array.from({ length: n }, () => Math.floor(Math.random() * 256)),
    now: () => Date.now(),
    getExitCode: () => exitCode,
    setExitCode: (code) => { exitCode = code; },
    platformTimers: {
      setTimeout: (fn, ms) => arm(fn, ms, false), clearTimeout: clear,
      setInterval: (fn, ms) => arm(fn, ms, true), clearInterval: clear,
      queueMicrotask: (fn) => void Promise.resolve().then(fn),
    },
  };
  // A minimal AbortController for the tests (the isolate has none).
  class Signal {
    constructor() { this.aborted = false; this.reason = undefined; this.listeners = []; }
    addEventListener(type, fn) { if (type === 'abort') this.listeners.push(fn); }
    removeEventListener(type, fn) { this.listeners = this.listeners.filter((f) => f !== fn); }
  }
  globalThis.TestAbortController = class {
    constructor() { this.signal = new Signal(); }
    abort(reason) {
      const s = this.signal;
      if (s.aborted) return;
      s.aborted = true;
      s.reason = reason === undefined ? Object.assign(new Error('This operation was aborted'), { name: 'AbortError' }) : reason;
      for (const fn of s.listeners.splice(0)) fn();
    }
  };
})();
`;

/** NodeIsolate is one isolate with the bundle and test env loaded; run() evaluates async code that sees `load`. */
export class NodeIsolate {
  readonly isolate = new ivm.Isolate({ memoryLimit: 128 });
  readonly context: ivm.Context;
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();

  constructor(bundle: string) {
    this.context = this.isolate.createContextSync();
    const global = this.context.global;
    global.setSync('globalThis', global.derefInto());
    global.setSync('__hostNow', new ivm.Callback(() => performance.now()));
    global.setSync(
      '__hostTimer',
      new ivm.Callback((id: number, ms: number) => {
        const t = setTimeout(() => {
          this.timers.delete(t);
          const fire = global.getSync('__fire', { reference: true }) as ivm.Reference<(id: number) => void>;
          fire.apply(undefined, [id]).catch(() => undefined);
        }, ms);
        this.timers.add(t);
      }),
    );
    this.context.evalSync(TEST_ENV);
    this.context.evalSync(bundle);
    this.context.evalSync('globalThis.load = __node.nodeBuiltins(__env);');
  }

  /** run evaluates `body` as an async function body in the isolate and returns its (copied) result. */
  async run<T = unknown>(body: string): Promise<T> {
    return (await this.context.eval(`(async () => { ${body} })()`, { promise: true, copy: true })) as T;
  }

  dispose(): void {
    for (const t of this.timers) clearTimeout(t);
    this.isolate.dispose();
  }
}
