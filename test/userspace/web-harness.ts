// Builds userspace/web/install.js the way the runtime bundles it and runs it
// in a real isolated-vm isolate with a scripted kernel defined inside it.
import { build } from 'esbuild';
import ivm from 'isolated-vm';
import { fileURLToPath } from 'node:url';

const WEB = (file: string): string => JSON.stringify(fileURLToPath(new URL(`../../userspace/web/${file}`, import.meta.url)));

let bundled: Promise<string> | undefined;

/** bundleWebGlobals returns the iife bundle that installs the web globals from `globalThis.__kernel`. */
export function bundleWebGlobals(minify = false): Promise<string> {
  const run = async () => {
    const result = await build({
      stdin: {
        contents: [
          `import { installWebGlobals } from ${WEB('install.js')};`,
          `import { WEB_GLOBALS } from ${WEB('globals.js')};`,
          `import { WEB_GLOBAL_NAMES } from ${WEB('names.js')};`,
          'installWebGlobals(globalThis, globalThis.__kernel, WEB_GLOBAL_NAMES, () => WEB_GLOBALS);',
          'delete globalThis.__kernel;',
        ].join('\n'),
        resolveDir: fileURLToPath(new URL('.', import.meta.url)),
        loader: 'js',
      },
      bundle: true,
      platform: 'browser',
      format: 'iife',
      write: false,
      minify,
      logLevel: 'silent',
    });
    return result.outputFiles[0]!.text;
  };
  if (minify) return run();
  bundled ??= run();
  return bundled;
}

// The test kernel, evaluated inside the isolate before the bundle: seeded
// randomness, a clock, a write log, scripted transport replies, and timers
// backed by a host reference.
const KERNEL = `
(() => {
  let seed = 0x2545f491;
  const next = () => { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; return seed >>> 0; };
  const writes = [];
  const requests = [];
  const routes = [];
  let timerId = 0;
  const timers = new Map();
  globalThis.setTimeout = (fn, ms = 0, ...args) => {
    const id = ++timerId;
    timers.set(id, () => fn(...args));
    __hostTimer.applyIgnored(undefined, [id, Number(ms) || 0]);
    return id;
  };
  globalThis.clearTimeout = (id) => { timers.delete(id); };
  globalThis.__fireTimer = (id) => { const run = timers.get(id); timers.delete(id); if (run) run(); };
  globalThis.__test = { writes, requests, routes };
  globalThis.__kernel = {
    randomBytes(n) { const out = new Uint8Array(n); for (let i = 0; i < n; i++) out[i] = next() & 0xff; return out; },
    now: () => Date.now(),
    timeOrigin: 1700000000000,
    write(fd, text) { writes.push([fd, text]); },
    transport(request) {
      requests.push(request);
      const route = routes.shift();
      if (!route) return Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { errno: 'ECONNREFUSED' }));
      return route(request);
    },
  };
})();
`;

export interface WebIsolate {
  isolate: ivm.Isolate;
  context: ivm.Context;
  /** run evaluates an async function body in the isolate and returns its copied result. */
  run<T = unknown>(body: string): Promise<T>;
  dispose(): void;
}

/** createWebIsolate makes an isolate with the test kernel and the web globals installed. */
export async function createWebIsolate(options: { install?: boolean } = {}): Promise<WebIsolate> {
  const isolate = new ivm.Isolate({ memoryLimit: 256 });
  const context = await isolate.createContext();
  const pending = new Set<NodeJS.Timeout>();
  const hostTimer = new ivm.Reference((id: number, ms: number) => {
    const handle = setTimeout(() => {
      pending.delete(handle);
      if (isolate.isDisposed) return;
      context.evalClosure('__fireTimer($0)', [id]).catch(() => {});
    }, ms);
    pending.add(handle);
  });
  await context.global.set('__hostTimer', hostTimer);
  await context.eval(KERNEL);
  if (options.install !== false) await context.eval(await bundleWebGlobals());
  return {
    isolate,
    context,
    run: <T>(body: string) => context.eval(`(async () => { ${body} })()`, { promise: true, copy: true }) as Promise<T>,
    dispose() {
      for (const handle of pending) clearTimeout(handle);
      if (!isolate.isDisposed) isolate.dispose();
    },
  };
}
