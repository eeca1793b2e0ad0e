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
    const kernel = new Kernel({ stdout: () => {}, stderr: () => {} });
    try {
      const out = capture();
      const proc = kernel.spawn(programFromSource('requests.js', "const c = new AbortController();\nfor (let i = 0; i < 300000; i++) new Request('https://example.com/', { signal: c.signal });\nconsole.log('done');\n"), { memoryLimitMib: 24, stdout: out.sink });
      const exit = await kernel.wait(proc.pid);
      expect(exit.reason).toEqual({ kind: 'exit' });
      expect(out.text).toBe('done\n');
    } finally {
      await kernel.shutdown();
    }
  });
});
