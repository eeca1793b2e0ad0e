// installWebGlobals: every name is a lazy, non-enumerable global whose
// module runs on first access only; prints install and first-access times.
import { afterAll, describe, expect, it } from 'vitest';
import ivm from 'isolated-vm';
import { bundleWebGlobals, createWebIsolate, type WebIsolate } from './web-harness.ts';

const NAMES = [
  'TextEncoder', 'TextDecoder', 'TextEncoderStream', 'TextDecoderStream', 'URL', 'URLSearchParams', 'ReadableStream', 'WritableStream',
  'TransformStream', 'ReadableStreamDefaultReader', 'ByteLengthQueuingStrategy', 'CountQueuingStrategy', 'EventTarget', 'Event',
  'CustomEvent', 'DOMException', 'AbortController', 'AbortSignal', 'atob', 'btoa', 'structuredClone', 'crypto', 'performance', 'Blob',
  'File', 'Headers', 'Request', 'Response', 'fetch', 'console',
];

const isolates: WebIsolate[] = [];
afterAll(() => {
  for (const web of isolates) web.dispose();
});

describe('installWebGlobals', () => {
  it('defines accessors that become plain non-enumerable data properties on first access', async () => {
    const web = await createWebIsolate();
    isolates.push(web);
    const result = await web.run<{ before: string[]; after: string[]; enumerable: string[]; assigned: unknown }>(`
      const names = ${JSON.stringify(NAMES)};
      const kind = (name) => { const d = Object.getOwnPropertyDescriptor(globalThis, name); return d === undefined ? 'missing' : 'get' in d ? 'accessor' : 'data:' + d.writable + d.configurable + d.enumerable; };
      const before = names.map(kind);
      for (const name of names) void globalThis[name];
      globalThis.fetch = 'replaced';
      return { before, after: names.map(kind), enumerable: names.filter((n) => Object.keys(globalThis).includes(n)), assigned: globalThis.fetch };
    `);
    expect(result.before).toEqual(NAMES.map(() => 'accessor'));
    expect(result.after).toEqual(NAMES.map(() => 'data:truetruefalse'));
    expect(result.enumerable).toEqual([]);
    expect(result.assigned).toBe('replaced');
  });

  it('runs no module body at install: library loads are observed only on first access', async () => {
    const web = await createWebIsolate({ install: false });
    isolates.push(web);
    // Count the Object.defineProperty/defineProperties calls the libraries
    // make while their module bodies run (install itself uses Reflect; the
    // bundler's namespace objects, made up front, define enumerable getters).
    await web.context.eval(`
      globalThis.__defines = 0;
      const define = Object.defineProperty, defineAll = Object.defineProperties;
      Object.defineProperty = function (...args) { if (!(args[2] && args[2].enumerable === true && typeof args[2].get === 'function')) __defines++; return define.apply(this, args); };
      Object.defineProperties = function (...args) { __defines++; return defineAll.apply(this, args); };
    `);
    await web.context.eval(await bundleWebGlobals());
    const counts = await web.run<number[]>(`
      const counts = [__defines];
      for (const name of ['ReadableStream', 'URL', 'EventTarget']) { const start = __defines; void globalThis[name]; counts.push(__defines - start); }
      return counts;
    `);
    expect(counts[0]).toBe(0);
    for (const count of counts.slice(1)) expect(count).toBeGreaterThan(0);
  });

  it('reports install time and first-access times', async () => {
    const minified = await bundleWebGlobals(true);
    const plain = await bundleWebGlobals();
    const isolate = new ivm.Isolate({ memoryLimit: 128 });
    try {
      const context = await isolate.createContext();
      await context.eval(`globalThis.__kernel = { randomBytes: (n) => new Uint8Array(n), now: () => Date.now(), timeOrigin: 0, write() {}, transport: () => Promise.reject(new Error('none')) };`);
      let started = process.hrtime.bigint();
      const script = await isolate.compileScript(minified);
      const compileMs = Number(process.hrtime.bigint() - started) / 1e6;
      started = process.hrtime.bigint();
      script.runSync(context);
      const installMs = Number(process.hrtime.bigint() - started) / 1e6;
      const firstAccess: Record<string, number> = {};
      for (const name of ['TextEncoder', 'console', 'ReadableStream', 'URL', 'AbortController', 'structuredClone', 'fetch', 'crypto']) {
        started = process.hrtime.bigint();
        context.evalSync(`void globalThis.${name}`);
        firstAccess[name] = Math.round(Number(process.hrtime.bigint() - started) / 1e4) / 100;
      }
      started = process.hrtime.bigint();
      context.evalSync('void 0');
      const emptyEvalMs = Number(process.hrtime.bigint() - started) / 1e6;
      console.log(
        `userspace/web bundle: ${(plain.length / 1024).toFixed(1)} KiB, minified ${(minified.length / 1024).toFixed(1)} KiB; ` +
          `compile ${compileMs.toFixed(2)} ms, install (top level) ${installMs.toFixed(3)} ms, empty eval ${emptyEvalMs.toFixed(3)} ms\n` +
          `first access (ms, includes the modules it loads): ${JSON.stringify(firstAccess)}`,
      );
      expect(installMs).toBeGreaterThan(0);
    } finally {
      isolate.dispose();
    }
  });
});
