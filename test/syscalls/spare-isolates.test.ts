/**
 * Spare isolates (kernel/spare-isolates.ts): a fresh isolate with its
 * context is built in the turn after a spawn, so that the next spawn of
 * that heap size does not wait for it. Each is used once: nothing of one
 * agent is there for the next.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Kernel } from '../../kernel/kernel.ts';
import { programFromSource } from '../../kernel/program.ts';
import { ready } from '../../kernel/spare-isolates.ts';

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

  it('are kept for the two heap sizes last asked for; a size isolated-vm refuses fails its spawn only; a kernel shutting down disposes them', async () => {
    expect(await run('console.log(1)', 32)).toBe('1\n');
    await turns(4);
    expect(ready()).toContain(32);
    // Another size gets its own spare, and two sizes alternating keep theirs.
    for (const size of [16, 32, 16]) expect(await run('console.log(new Array(1000).fill(1).length)', size)).toBe('1000\n');
    await turns(4);
    expect(ready()).toEqual([32, 16]);
    // A third size takes the place of the one asked for longest ago.
    expect(await run('console.log(3)', 48)).toBe('3\n');
    await turns(4);
    expect(ready()).toEqual([16, 48]);
    // Below isolated-vm's least heap: the spawn fails as before, nothing else (a later turn's spare for it threw out of the event loop, a review).
    expect(() => kernel.spawn(programFromSource('p.js', 'console.log(4)'), { memoryLimitMib: 4 })).toThrow(/memoryLimit/);
    await turns(4);
    expect(ready()).toEqual([16, 48]);
    const other = new Kernel({ stdout: () => {}, stderr: () => {} });
    await other.shutdown();
    expect(ready()).toEqual([]);
    // The next spawn builds them again.
    expect(await run('console.log(2)', 16)).toBe('2\n');
    await turns(4);
    expect(ready()).toEqual([16]);
  });
});
