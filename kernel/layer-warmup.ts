/**
 * Warm code caches for the runtime's layers (runtime-bundle.ts). V8
 * compiles a function the first time it is called, so a code cache made
 * with a layer's script holds little more than its top level: every isolate
 * whose program first touches `URL` compiled whatwg-url's parser again
 * (~9 ms), `Response` the streams and body code (~8 ms). Here a
 * kernel-owned isolate, which never holds agent code, runs a layer and a
 * fixed exercise of its common paths (EXERCISES), then compiles the layer's
 * script again: V8 takes it from that isolate's compilation cache with
 * those functions compiled, and the cache made from it holds them.
 *
 * Everything runs with isolated-vm's asynchronous calls, on its thread
 * pool: the kernel's event loop only starts the job and takes the cache.
 */
import ivm from 'isolated-vm';
import type { LayerName } from './runtime-bundle.ts';

/** The warm-up isolate's heap, MiB, and the longest its exercise may run, ms. */
const WARM_HEAP_MIB = 128;
const WARM_TIMEOUT_MS = 10_000;

/**
 * The web globals as the runtime installs them (userspace/runtime/index.js:
 * each built on first use, so that the cache holds only the modules the
 * exercise touches), over a kernel object that answers from inside the
 * isolate: no syscall, no host function.
 */
const WEB_GLOBALS = `
  const encoder = new (web.WEB_GLOBALS.TextEncoder())();
  const kernel = {
    randomBytes: (n) => new Uint8Array(n),
    now: () => 0,
    timeOrigin: 0,
    write: () => {},
    transport: async (request) => request.url.endsWith('/stream')
      ? { status: 200, statusText: 'OK', url: request.url, headers: [['content-type', 'text/event-stream']],
          body: new ReadableStream({ start(c) { c.enqueue(encoder.encode('data: {"delta":"a"}\\n\\n')); c.enqueue(encoder.encode('data: [DONE]\\n\\n')); c.close(); } }) }
      : { status: 200, statusText: 'OK', url: request.url, headers: [['content-type', 'application/json']], bodyText: '{"id":"x","choices":[{"message":{"content":"ok"}}]}' },
  };
  for (const name of Object.keys(web.WEB_GLOBALS)) {
    Object.defineProperty(globalThis, name, {
      get() { const value = web.WEB_GLOBALS[name](kernel); Object.defineProperty(globalThis, name, { value, writable: true, enumerable: false, configurable: true }); return value; },
      enumerable: false, configurable: true,
    });
  }
`;

/**
 * What each warm-up runs: the paths agent code and the frameworks take
 * first (parse and print URLs, encode text, build and read requests and
 * responses, streams, aborts, formatting; `process`, `Buffer`, events,
 * paths). `web` and `node` are the layers' exports; each step that throws
 * is reported (the test keeps them working). Every program given a warm
 * cache reads all of it (~5 µs a KB here), and a function it holds saves
 * about ten times that where it is called: Node's `util`, `crypto`,
 * `assert` and `fs` (~260 KB, 1.4 ms) stay out, as the frameworks do not
 * reach for them first.
 */
const EXERCISES: Readonly<Record<LayerName, string>> = {
  web: `${WEB_GLOBALS}
    step('url', () => { const u = new URL('https://api.example.com:8443/v1/chat/completions?model=m&stream=true#x'); u.searchParams.set('a', 'b c'); u.pathname = '/v2'; String(u); new URL('../x', u).href; new URLSearchParams('a=1&b=2').toString(); URL.canParse?.('x'); });
    step('text', () => { const bytes = new TextEncoder().encode('héllo ✓'); new TextDecoder().decode(bytes); new TextDecoder('utf-8', { fatal: true }).decode(bytes, { stream: true }); btoa('abc'); atob('YWJj'); });
    step('clone', () => { const o = { a: [1, { b: new Map([[1, 2]]) }], d: new Date(0) }; o.self = o; structuredClone(o); });
    step('events', () => { const t = new EventTarget(); t.addEventListener('x', () => {}); t.dispatchEvent(new Event('x')); new CustomEvent('y', { detail: 1 }); new DOMException('m', 'AbortError'); });
    step('abort', () => { const c = new AbortController(); c.signal.addEventListener('abort', () => {}); c.abort(); AbortSignal.any([c.signal]); AbortSignal.abort(); AbortSignal.timeout; });
    step('crypto', () => { crypto.randomUUID(); crypto.getRandomValues(new Uint8Array(8)); performance.now(); });
    step('console', () => { const c = console; c.log('%s %d %o', 'a', 1, { a: 1 }); c.log(new Map([[1, { a: [1, 2] }]]), new Set([1]), new Error('e', { cause: new Error('c') }), new URL('http://x/'), [1, 'a', null, undefined], class A {}); c.table([{ a: 1 }]); c.dir({ a: { b: { c: {} } } }, { depth: 0 }); });
    await stepAsync('streams', async () => {
      const r = new ReadableStream({ start(c) { c.enqueue('a'); c.close(); } }).pipeThrough(new TransformStream({ transform(chunk, c) { c.enqueue(chunk + 'b'); } }));
      const reader = r.getReader(); while (!(await reader.read()).done);
      const bytes = new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode('x\\n')); c.close(); } }).pipeThrough(new TextDecoderStream()).pipeThrough(new TextEncoderStream());
      for await (const _ of bytes);
      const w = new WritableStream({ write() {} }).getWriter(); await w.write('a'); await w.close();
    });
    await stepAsync('bodies', async () => {
      const h = new Headers({ 'Content-Type': 'application/json', authorization: 'Bearer k' }); h.append('x-a', '1'); [...h]; h.get('content-type');
      const req = new Request('https://api.example.com/v1/chat', { method: 'POST', headers: h, body: JSON.stringify({ a: 1 }) });
      await req.clone().json(); await req.text();
      await new Response('{"a":1}', { status: 201, headers: { 'content-type': 'application/json' } }).json();
      await Response.json({ a: 1 }).arrayBuffer();
      await new Response(new Blob(['ab'])).blob();
      const f = new FormData(); f.append('a', 'b'); await new Response(f).text();
      const s = new Response(new ReadableStream({ start(c) { c.enqueue(new Uint8Array([97])); c.close(); } }));
      const rd = s.body.getReader(); while (!(await rd.read()).done);
    });
    await stepAsync('fetch', async () => {
      const answer = await fetch('https://api.example.com/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages: [] }), signal: new AbortController().signal });
      answer.ok; answer.headers.get('content-type'); await answer.json();
      const streamed = await fetch(new Request('https://api.example.com/v1/stream'));
      const lines = streamed.body.pipeThrough(new TextDecoderStream()).getReader();
      while (!(await lines.read()).done);
    });
  `,
  node: `${WEB_GLOBALS}
    const load = node.nodeBuiltins({
      sys: {}, sysAsync: {}, argv: ['/usr/local/bin/agent', 'warm.js'], env: {}, pid: 1, ppid: 0,
      exit: () => {}, write: () => {}, randomBytes: (n) => new Uint8Array(n), now: () => 0, cwd: '/agent/warm',
      platformTimers: { setTimeout: () => 0, clearTimeout: () => {}, setInterval: () => 0, clearInterval: () => {}, setImmediate: () => 0, clearImmediate: () => {}, queueMicrotask: (f) => Promise.resolve().then(f) },
      getExitCode: () => undefined, setExitCode: () => {}, setUncaught: () => {}, setTickRunner: () => {},
    });
    step('process', () => { const p = load('process'); p.env.HOME; p.argv.slice(2); p.cwd(); p.platform; p.on('exit', () => {}); p.nextTick(() => {}); p.hrtime?.(); });
    step('buffer', () => { const { Buffer } = load('buffer'); const b = Buffer.from('héllo', 'utf8'); b.toString('base64'); b.toString('hex'); Buffer.concat([b, Buffer.alloc(2)]).readUInt16BE(0); Buffer.byteLength('x'); Buffer.isBuffer(b); b.equals(Buffer.from(b)); });
    step('path', () => { const path = load('path'); path.join('a', '..', 'b', 'c.txt'); path.resolve('x'); path.extname('a.ts'); path.basename('/a/b.js', '.js'); path.dirname('/a/b'); path.relative('/a/b', '/a/c'); });
    step('events', () => { const E = load('events'); const e = new E(); e.once('x', () => {}); e.on('y', () => {}); e.emit('x', 1); e.emit('y'); e.listenerCount('y'); e.removeAllListeners(); });
    step('url', () => { const u = load('url'); u.fileURLToPath?.('file:///a/b'); u.pathToFileURL?.('/a/b').href; new u.URL('http://x/').href; });
  `,
};

/** The script run in the warm-up isolate: the exercise of `layer` as an async function, resolving to the failures (JSON). */
function warmupScript(layer: LayerName): string {
  return `(async () => {
    const failures = [];
    const why = (name, err) => failures.push(name + ': ' + (err && err.stack ? String(err.stack).split('\\n').slice(0, 3).join(' | ') : String(err)));
    const step = (name, run) => { try { run(); } catch (err) { why(name, err); } };
    const stepAsync = async (name, run) => { try { await run(); } catch (err) { why(name, err); } };
    try {
      const web = __layers.web();
      const node = __layers.node === undefined ? undefined : __layers.node();
      ${EXERCISES[layer]}
    } catch (err) { why('setup', err); }
    return JSON.stringify(failures);
  })()`;
}

/** What a layer's script is, for warmLayer: its code and file name. */
export interface LayerSource {
  readonly code: string;
  readonly filename: string;
}

/** Warmed is a warm-up's result: the layer's code cache with its common paths compiled, and the exercise's failures (none, when the layer works). */
export interface Warmed {
  readonly cachedData: ivm.ExternalCopy<ArrayBuffer> | undefined;
  readonly failures: readonly string[];
}

/** The warm-ups' isolates while they run (stopWarmups). */
const running = new Set<ivm.Isolate>();

/** WarmupStopped is the error of a warm-up stopWarmups ended. */
export class WarmupStopped extends Error {}

/**
 * warmLayer runs `layer` (given with the layers it needs, `web` first) and
 * its exercise in a new kernel-owned isolate, off the event loop, and
 * returns the code cache made from the script compiled again there. The
 * isolate is disposed, whatever happens. WarmupStopped when stopWarmups
 * ended it.
 */
export async function warmLayer(layer: LayerName, sources: Readonly<Partial<Record<LayerName, LayerSource>>>): Promise<Warmed> {
  let ended: string | undefined;
  const end = (why: string): void => {
    ended ??= why;
    if (!isolate.isDisposed) isolate.dispose();
  };
  // Without a handler some out-of-memory paths abort the whole process (sandbox.ts).
  const isolate = new ivm.Isolate({ memoryLimit: WARM_HEAP_MIB, onCatastrophicError: (message) => setImmediate(() => end(`it hit V8's catastrophic path (${String(message)})`)) });
  running.add(isolate);
  // An eval's timeout bounds its synchronous part only: an exercise whose promise never settled would hold its isolate for good.
  const timer = setTimeout(() => end(`it ran past ${WARM_TIMEOUT_MS} ms`), WARM_TIMEOUT_MS);
  timer.unref();
  try {
    return await exercise(isolate, layer, sources);
  } catch (err) {
    if (!isolate.isDisposed) throw err;
    throw ended === undefined ? new WarmupStopped(`the ${layer} layer's warm-up was stopped`) : new Error(`the ${layer} layer's warm-up ended: ${ended}`);
  } finally {
    clearTimeout(timer);
    running.delete(isolate);
    if (!isolate.isDisposed) isolate.dispose();
  }
}

/**
 * stopWarmups ends the warm-ups that run (a kernel shutting down): a
 * pending isolated-vm call keeps the process from exiting, ~80 ms after a
 * one-shot run's agent has ended.
 */
export function stopWarmups(): void {
  for (const isolate of running) if (!isolate.isDisposed) isolate.dispose();
}

/** exercise runs the layers and `layer`'s exercise in `isolate`, and makes `layer`'s cache again there. */
async function exercise(isolate: ivm.Isolate, layer: LayerName, sources: Readonly<Partial<Record<LayerName, LayerSource>>>): Promise<Warmed> {
  const context = await isolate.createContext();
  const made: Record<string, ivm.Reference<unknown>> = {};
  for (const [name, source] of Object.entries(sources)) {
    const script = await isolate.compileScript(source.code, { filename: source.filename });
    made[name] = (await script.run(context, { reference: true, timeout: WARM_TIMEOUT_MS })) as ivm.Reference<unknown>;
  }
  const layers = await context.eval('globalThis.__layers = {}', { reference: true });
  for (const [name, ref] of Object.entries(made)) await layers.set(name, ref.derefInto());
  const failures = JSON.parse((await context.eval(warmupScript(layer), { promise: true, timeout: WARM_TIMEOUT_MS })) as string) as string[];
  const source = sources[layer]!;
  const again: ivm.Script & { cachedData?: ivm.ExternalCopy<ArrayBuffer> } = await isolate.compileScript(source.code, { filename: source.filename, produceCachedData: true });
  return { cachedData: again.cachedData, failures };
}
