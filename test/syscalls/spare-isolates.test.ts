/**
 * Spare isolates (kernel/spare-isolates.ts): a few fresh isolates, each with
 * its context, are built in the turns after a spawn took one, so that the
 * next spawn does not wait for them. Each is used once: nothing of one
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
    expect(ready().count).toBe(2);
    // Each later agent gets a fresh isolate and context: no global, no prototype change of another agent.
    for (let i = 0; i < 4; i++) expect(await run('console.log(typeof left, ({}).polluted)')).toBe('undefined undefined\n');
    await turns(4);
    expect(ready().count).toBe(2);
  });

  it('are built for the heap size last asked for, and a kernel shutting down disposes them', async () => {
    expect(await run('console.log(1)', 32)).toBe('1\n');
    await turns(4);
    expect(ready()).toEqual({ count: 2, heapMib: 32 });
    // An agent whose heap limit is another size builds its own isolate; the spares follow its size.
    expect(await run('console.log(new Array(1000).fill(1).length)', 16)).toBe('1000\n');
    await turns(4);
    expect(ready()).toEqual({ count: 2, heapMib: 16 });
    const other = new Kernel({ stdout: () => {}, stderr: () => {} });
    await other.shutdown();
    expect(ready().count).toBe(0);
    // The next spawn builds them again.
    expect(await run('console.log(2)')).toBe('2\n');
    await turns(4);
    expect(ready().count).toBe(2);
  });
});
