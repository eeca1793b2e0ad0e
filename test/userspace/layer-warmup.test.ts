/**
 * The layers' warm code caches (kernel/layer-warmup.ts): a program that
 * names a global whose first use compiles much of the web layer (URL,
 * fetch, streams…) gets the layers with a code cache that holds their
 * common paths, made once per process by a kernel-owned isolate running a
 * fixed exercise, from the second program that needs it; other programs
 * keep the plain caches.
 */
import ivm from 'isolated-vm';
import { afterAll, describe, expect, it } from 'vitest';
import { Kernel } from '../../kernel/kernel.ts';
import { programFromSource } from '../../kernel/program.ts';
import { commonPaths, layersFor } from '../../kernel/program-layers.ts';
import { compileWarmLayer, layerCacheBytes, layerWarmup, type LayerName } from '../../kernel/runtime-bundle.ts';

const kernel = new Kernel({ stdout: () => {}, stderr: () => {} });
afterAll(() => kernel.shutdown());

async function run(source: string): Promise<string> {
  let out = '';
  const proc = kernel.spawn(programFromSource('p.js', source), { stdout: (s) => void (out += Buffer.from(s).toString()) });
  const exit = await kernel.wait(proc.pid);
  expect(exit.status, out).toBe(0);
  return out;
}

/** plan is the layers a program's text names, and whether they come warm. */
function plan(source: string): [readonly string[], boolean] {
  const program = programFromSource('p.js', source);
  return [layersFor(program), commonPaths(program)];
}

const COMMON = `
const u = new URL('https://api.example.com/v1/chat?x=1');
const r = new Response(new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode('{"a":[1,2]}')); c.close(); } }));
const h = new Headers({ 'X-A': '1' });
r.json().then((j) => console.log(u.host, u.searchParams.get('x'), j.a.length, h.get('x-a'), new Map([[1, 2]]), Buffer.from('hi').toString('hex')));
`;

const EXPECTED = 'api.example.com 1 2 1 Map(1) { 1 => 2 } 6869\n';

describe("the layers' warm code caches", () => {
  it('are chosen by the names a program uses', () => {
    expect(plan('console.log(1)')).toEqual([['web'], false]);
    expect(plan('new TextEncoder().encode("x"); process.argv')).toEqual([['web', 'node'], false]);
    expect(plan('await fetch("http://x")')).toEqual([['web'], true]);
    expect(plan('process.env.A; new URL("http://x")')).toEqual([['web', 'node'], true]);
    expect(plan('new TransformStream()')).toEqual([['web'], true]);
    // A property of another object is not the global.
    expect(plan('client.fetch(1); o.URL; new TextDecoder()')).toEqual([['web'], false]);
  });

  it('are not made for programs that do not use the common paths', async () => {
    expect(await run('console.log(new TextEncoder().encode("ab").length, process.argv.length)')).toBe('2 2\n');
    expect(layerWarmup('web')).toBeUndefined();
    expect(layerWarmup('node')).toBeUndefined();
  });

  it('are not made for a single program (a one-shot run), and a kernel shutting down stops the warm-up; the next need starts it again', async () => {
    expect(await run(COMMON)).toBe(EXPECTED);
    expect(layerWarmup('web')).toBeUndefined();
    // The second need starts it (here a compile of the layer's own, so that the shutdown comes while it runs).
    const other = new Kernel({ stdout: () => {}, stderr: () => {} });
    const isolate = new ivm.Isolate({ memoryLimit: 64 });
    expect(compileWarmLayer(isolate, 'web')).toBeUndefined();
    isolate.dispose();
    const started = layerWarmup('web');
    expect(started).toBeDefined();
    await other.shutdown();
    expect((await started)?.failures).toEqual(["warm-up: the web layer's warm-up was stopped"]);
    expect(layerWarmup('web')).toBeUndefined();
    expect(layerCacheBytes('web').warm).toBeUndefined();
  });

  it('are made once, off the event loop, by an exercise that runs whole, and later programs run on them alike', async () => {
    const first = await run(COMMON);
    expect(first).toBe(EXPECTED);
    for (const name of ['web', 'node'] satisfies LayerName[]) {
      const warmed = await layerWarmup(name);
      // Every step of the exercise ran: a step that throws would leave its paths cold, unseen.
      expect(warmed?.failures).toEqual([]);
      const bytes = layerCacheBytes(name);
      // What the exercise compiled is in the cache: whatwg-url, the streams and bodies, the formatter (web); process, Buffer, events, path (node).
      expect(bytes.warm).toBeGreaterThan((name === 'web' ? 5 : 1.5) * bytes.plain!);
    }
    const warm = layerCacheBytes('web');
    const warming = layerWarmup('web');
    for (let i = 0; i < 3; i++) expect(await run(COMMON)).toBe(first);
    // V8 took the warm caches (a refused one is dropped), and none was made again.
    expect(layerCacheBytes('web')).toEqual(warm);
    expect(layerCacheBytes('node').warm).toBeGreaterThan(0);
    expect(layerWarmup('web')).toBe(warming);
  });
});
