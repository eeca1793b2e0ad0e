/**
 * A Request's own AbortSignal is made when a program first reads it; fetch
 * watches the signal it was given. Before, every Request made a signal that
 * followed the given one, and a long-lived signal (one controller for a whole
 * session, as frameworks pass around) kept every request's follower for as
 * long as it lived: an agent ran out of heap making requests.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kernel } from '../../kernel/kernel.ts';
import { programFromSource } from '../../kernel/program.ts';
import { capture } from '../helpers.ts';
import { createWebIsolate, type WebIsolate } from './web-harness.ts';

let web: WebIsolate;
beforeAll(async () => {
  web = await createWebIsolate();
});
afterAll(() => web.dispose());

describe("a Request's signal", () => {
  it('follows the signal it was given, however late it is first read, through clones and copies', async () => {
    const result = await web.run(`
      const c = new AbortController();
      const first = new Request('https://example.com/', { signal: c.signal });
      const copy = new Request(first);
      const clone = first.clone();
      const readEarly = new Request('https://example.com/', { signal: c.signal }).signal;
      const before = [first.signal.aborted, readEarly.aborted];
      c.abort('stop');
      const own = new Request('https://example.com/');
      return [before, [first.signal.aborted, first.signal.reason], first.signal === first.signal, first.signal === c.signal,
        [copy.signal.aborted, copy.signal.reason], [clone.signal.aborted, clone.signal.reason], [readEarly.aborted, readEarly.reason], own.signal.aborted];
    `);
    expect(result).toEqual([[false, false], [true, 'stop'], true, false, [true, 'stop'], [true, 'stop'], [true, 'stop'], false]);
  });

  it("fetch aborts on the given signal, and a fetched response's headers, made when read, are the same and immutable", async () => {
    const result = await web.run(`
      __test.routes.push((request) => Promise.resolve({ status: 200, statusText: 'OK', url: request.url, headers: [['content-type', 'text/plain'], ['x-a', ' 1 ']], body: null }));
      const res = await fetch('https://example.com/');
      const headers = res.headers;
      let refused = '';
      try { headers.set('x-b', '2'); } catch (e) { refused = e.message; }
      __test.routes.push(() => new Promise(() => {}));
      const c = new AbortController();
      const pending = fetch('https://example.com/', { signal: c.signal });
      c.abort(new Error('enough'));
      let aborted = '';
      try { await pending; } catch (e) { aborted = e.message; }
      return [[...headers], res.headers === headers, refused, [...res.clone().headers], aborted];
    `);
    expect(result).toEqual([[['content-type', 'text/plain'], ['x-a', '1']], true, 'Headers are immutable', [['content-type', 'text/plain'], ['x-a', '1']], 'enough']);
  });

  it('an agent making many requests with one long-lived signal stays within its heap (it was killed: memory limit)', async () => {
    expect(await runAgent("const c = new AbortController();\nfor (let i = 0; i < 300000; i++) new Request('https://example.com/', { signal: c.signal });\nconsole.log('done');\n", 24)).toBe('done\n');
  });
});

describe('AbortSignal.any (found by a review of the change above)', () => {
  it('merging a long-lived signal into a new one per call, as the AI SDK does with a timeout, stays within the heap; so does reading request.signal (both killed: memory limit)', async () => {
    const merge = 'const session = new AbortController();\nfor (let i = 0; i < 300000; i++) {\n  AbortSignal.any([session.signal, new AbortController().signal]);\n  new Request(\'https://example.com/\', { signal: session.signal }).signal;\n  if (i % 1000 === 0) await new Promise((r) => setTimeout(r, 0));\n}\nconsole.log(\'done\');\n';
    expect(await runAgent(merge, 32)).toBe('done\n');
  });

  it('a merged signal that only its listeners reach still runs them when its source aborts, collections in between', async () => {
    const program = `
      const source = new AbortController();
      const fired = [];
      (() => {
        AbortSignal.any([source.signal]).addEventListener('abort', (e) => fired.push('listener ' + e.target.reason));
        AbortSignal.any([source.signal]).onabort = () => fired.push('onabort');
        AbortSignal.any([AbortSignal.any([source.signal])]).addEventListener('abort', () => fired.push('nested'));
        const removed = AbortSignal.any([source.signal]);
        const gone = () => fired.push('removed');
        removed.addEventListener('abort', gone);
        removed.removeEventListener('abort', gone);
      })();
      // A WeakRef keeps its target until the job that made it ends; then garbage enough for several collections of a 32 MiB heap.
      await new Promise((r) => setTimeout(r, 0));
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 200; i++) { const junk = new Array(100000).fill(i); if (junk.length === 0) console.log('never'); }
        await new Promise((r) => setTimeout(r, 0));
      }
      source.abort('why');
      console.log(JSON.stringify(fired.sort()));
    `;
    expect(await runAgent(program, 32)).toBe('["listener why","nested","onabort"]\n');
  });
});

/** runAgent runs `source` as an agent with a heap of `heapMib` and returns what it printed; it must exit 0. */
async function runAgent(source: string, heapMib: number): Promise<string> {
  const kernel = new Kernel({ stdout: () => {}, stderr: () => {} });
  try {
    const out = capture();
    const proc = kernel.spawn(programFromSource('agent.js', source), { memoryLimitMib: heapMib, stdout: out.sink });
    const exit = await kernel.wait(proc.pid);
    expect(exit.reason).toEqual({ kind: 'exit' });
    return out.text;
  } finally {
    await kernel.shutdown();
  }
}
