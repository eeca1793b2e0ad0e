/**
 * Spare isolates (kernel/spare-isolates.ts): a fresh isolate with its
 * context is built in the turn after a spawn, so that the next spawn of
 * that heap size does not wait for it. Each is used once: nothing of one
 * agent is there for the next.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Kernel } from '../../kernel/kernel.ts';
import { programFromSource } from '../../kernel/program.ts';
import { disposeSpares, freshIsolate, ready } from '../../kernel/spare-isolates.ts';

const kernel = new Kernel({ stdout: () => {}, stderr: () => {} });
afterAll(() => kernel.shutdown());

const turns = async (n: number): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
};

async function run(source: string, heapMib?: number): Promise<string> {
  let out = '';
  const proc = kernel.spawn(programFromSource('p.js', source), { stdout: (s) => void (out += Buffer.from(s).toString()), ...(heapMib === undefined ? {} : { memoryLimitMib: heapMib }) });
  const exit = await kernel.wait(proc.pid);
  expect(exit.status, out).toBe(0);
  return out;
}

describe('spare isolates', () => {
  it('are built after a spawn, taken by the next ones, and hold nothing of an earlier agent', async () => {
    expect(await run('globalThis.left = "by the first"; Object.prototype.polluted = 1; console.log(typeof left)')).toBe('string\n');
    await turns(4);
    const sizes = ready();
    expect(sizes).toHaveLength(1);
    // Each later agent gets a fresh isolate and context: no global, no prototype change of another agent.
    for (let i = 0; i < 4; i++) expect(await run('console.log(typeof left, ({}).polluted)')).toBe('undefined undefined\n');
    await turns(4);
    expect(ready()).toEqual(sizes);
  });

  it('are kept for the four heap sizes last asked for; a size isolated-vm refuses fails its spawn only; a kernel shutting down disposes them', async () => {
    disposeSpares();
    expect(await run('console.log(1)', 32)).toBe('1\n');
    await turns(4);
    expect(ready()).toEqual([32]);
    // Another size gets its own spare, and two sizes alternating keep theirs.
    for (const size of [16, 32, 16]) expect(await run('console.log(new Array(1000).fill(1).length)', size)).toBe('1000\n');
    await turns(4);
    expect(ready()).toEqual([32, 16]);
    // A fifth size takes the place of the one asked for longest ago (sizes under the kernel's most, 64 MiB).
    for (const size of [48, 24, 40]) expect(await run('console.log(3)', size)).toBe('3\n');
    await turns(4);
    expect(ready()).toEqual([16, 48, 24, 40]);
    // Below isolated-vm's least heap: the spawn fails as before, nothing else (a later turn's spare for it threw out of the event loop, a review).
    expect(() => kernel.spawn(programFromSource('p.js', 'console.log(4)'), { memoryLimitMib: 4 })).toThrow(/memoryLimit/);
    await turns(4);
    expect(ready()).toEqual([16, 48, 24, 40]);
    const other = new Kernel({ stdout: () => {}, stderr: () => {} });
    await other.shutdown();
    expect(ready()).toEqual([]);
    // The next spawn builds them again.
    expect(await run('console.log(2)', 16)).toBe('2\n');
    await turns(4);
    expect(ready()).toEqual([16]);
  });

  it('are paid for by the tree that takes one, or whose spawn of another size throws one away', async () => {
    disposeSpares();
    const paid = { first: 0, takers: 0, evicters: 0 };
    const made: ReturnType<typeof freshIsolate>[] = [];
    made.push(freshIsolate(16, (ns) => (paid.first += ns)));
    await turns(2);
    // Its spare was built a turn later, and nobody has paid for it yet: it may yet go unused.
    expect(ready()).toEqual([16]);
    expect(paid.first).toBe(0);
    // Spawns a turn apart each take the spare the last one asked for, and pay what it cost.
    for (let i = 0; i < 10; i++) {
      const taken = freshIsolate(16, (ns) => (paid.takers += ns));
      expect(taken.context).toBeDefined();
      made.push(taken);
      await turns(2);
    }
    expect(paid.takers).toBeGreaterThan(0);
    expect(paid.first).toBe(0);
    // Five sizes in turn: each spawn throws away the spare of the size asked for longest ago, built for another, and pays for it.
    for (let i = 0; i < 10; i++) {
      made.push(freshIsolate([24, 32, 40, 48, 56][i % 5]!, (ns) => (paid.evicters += ns)));
      await turns(2);
    }
    expect(paid.evicters).toBeGreaterThan(0);
    expect(ready()).toEqual([32, 40, 48, 56]);
    for (const fresh of made) fresh.isolate.dispose();
    disposeSpares();
  });
});
