/**
 * A stopped process's asynchronous calls. Its isolate runs on until it
 * waits (a stop takes effect at syscalls), so it can make many calls while
 * stopped: they are held back in ring 3, in its own heap, and go once it is
 * continued. Found by an attacker pass: the kernel parked each with its
 * arguments until SIGCONT, and a process that stopped itself and spawned
 * 1,000 times with 4 MB of argv took the kernel's heap to its limit.
 */
import { describe, expect, it } from 'vitest';
import { AsyncCalls, REF, type Completion } from '../../kernel/async-calls.ts';
import { MAX_PARKED_CALLS } from '../../kernel/syscall-gate.ts';
import { SYSCALL_NUMBERS } from '../../syscalls/table.ts';
import { programFromSource } from '../../kernel/program.ts';
import { kernelFor } from '../live-agents.ts';
import { until } from '../until.ts';

const CALLS = 100;
const CHUNK = 64 * 1024;
const PROGRAM = [
  "sys.kill(sys.pid, 'SIGSTOP');",
  `const chunk = new Uint8Array(${CHUNK}).fill(120);`,
  `const writes = []; for (let i = 0; i < ${CALLS}; i++) writes.push(sys.async.write(1, chunk));`,
  'await Promise.all(writes);',
].join('\n');

describe.each([
  ['in the kernel', {}],
  ['in a sandbox host', { hosts: { count: 1, agentsPerHost: 4, spares: 0 } }],
])('a stopped process (%s)', (_where, options) => {
  it(`its ${CALLS} calls made while stopped wait in ring 3, none in the kernel, and all run once it is continued`, async () => {
    expect(CALLS).toBeLessThan(MAX_PARKED_CALLS);
    const kernel = kernelFor(options);
    let written = 0;
    const proc = await kernel.spawnAsync(programFromSource('stopped.js', PROGRAM), { stdout: (chunk) => void (written += chunk.byteLength) });
    await until(() => proc.state === 'stopped' && proc.sandbox?.idle === true, `pid ${proc.pid} to be stopped and idle`);
    // Ring 0 holds none of them (it held all 100, arguments included, until SIGCONT).
    expect(proc.parked).toBe(0);
    expect(written).toBe(0);
    expect(kernel.kill(proc.pid, 'SIGCONT')).toBe('continued');
    expect(await proc.exited).toMatchObject({ status: 0 });
    expect(written).toBe(CALLS * CHUNK);
  }, 30_000);

  // Found by a review of the change: calls held back in ring 3 did not keep the process, so one stopped with main
  // settled ended with status 0 and its last calls were lost.
  it('its calls held back keep it: stopped with main settled and a write not awaited, it waits, and the write goes on SIGCONT', async () => {
    const kernel = kernelFor(options);
    let out = '';
    const proc = await kernel.spawnAsync(programFromSource('last-words.js', "sys.kill(sys.pid, 'SIGSTOP'); sys.async.write(1, 'last words\\n');"), { stdout: (chunk) => void (out += new TextDecoder().decode(chunk)) });
    await until(() => proc.state === 'stopped' && proc.sandbox?.idle === true, `pid ${proc.pid} to be stopped and idle`);
    expect(proc.exit).toBeUndefined();
    expect(kernel.kill(proc.pid, 'SIGCONT')).toBe('continued');
    expect(await proc.exited).toMatchObject({ status: 0 });
    expect(out).toBe('last words\n');
  }, 30_000);
});

// Found by a review of the change: continued while the empty batch that tells the runtime to try again was on its way
// (the runtime had tried, and was answered busy again, stopped), the process was never nudged again, and hung.
describe('continuing a process', () => {
  it('nudges the runtime once the batch on its way has been taken, even an empty one', async () => {
    const delivered: number[] = [];
    const taking: (() => void)[] = [];
    const calls = new AsyncCalls(
      (batch: Completion[]) => {
        delivered.push(batch.length);
        return new Promise<void>((resolve) => taking.push(resolve));
      },
      () => {},
    );
    const WRITE = SYSCALL_NUMBERS.SYS_WRITE;
    calls.add(REF, WRITE, new AbortController(), Promise.resolve({ v: 1 }));
    await until(() => delivered.length === 1, 'the completion to be delivered');
    // Stopped: a call is answered busy; the batch is taken, so the runtime is told to try again (an empty batch)…
    expect(calls.refusal(REF, WRITE, true)).toMatchObject({ t: 'busy' });
    taking.shift()!();
    await until(() => delivered.length === 2, 'the empty batch');
    // …and, still stopped, is answered busy again. Continued now, with that empty batch on its way:
    expect(calls.refusal(REF, WRITE, true)).toMatchObject({ t: 'busy' });
    calls.nudge();
    expect(delivered).toEqual([1, 0]);
    taking.shift()!();
    await until(() => delivered.length === 3, 'a nudge once the empty batch is taken');
    expect(delivered).toEqual([1, 0, 0]);
  });
});
