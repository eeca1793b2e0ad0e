/**
 * A stopped process's asynchronous calls. Its isolate runs on until it
 * waits (a stop takes effect at syscalls), so it can make many calls while
 * stopped: they are held back in ring 3, in its own heap, and go once it is
 * continued. Found by an attacker pass: the kernel parked each with its
 * arguments until SIGCONT, and a process that stopped itself and spawned
 * 1,000 times with 4 MB of argv took the kernel's heap to its limit.
 */
import { describe, expect, it } from 'vitest';
import { MAX_PARKED_CALLS } from '../../kernel/syscall-gate.ts';
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
});
