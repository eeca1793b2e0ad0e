/**
 * The kernel never crashes on anything a host sends: a hostile host program
 * (hostile-host.ts) gets an agent placed on it and then breaks the channel
 * in one way per case. Each time the host is killed with the reason
 * recorded, its agent ends as lost, and the kernel goes on (it is not
 * degraded and still runs an agent in its own process).
 */
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryDecisionLog } from '../../kernel/decision-log.ts';
import type { Kernel } from '../../kernel/kernel.ts';
import { programFromSource } from '../../kernel/program.ts';
import { exitStatusForSignal } from '../../signals/signal-table.ts';
import { runAgent, testKernel } from '../helpers.ts';
import { until, within } from '../until.ts';

const HOSTILE = fileURLToPath(new URL('./hostile-host.ts', import.meta.url));

let kernel: Kernel | undefined;
afterEach(async () => {
  await kernel?.shutdown();
  kernel = undefined;
  delete process.env.HOSTILE_MODE;
});

const CASES: readonly [mode: string, recorded: RegExp][] = [
  ['garbage', /sent a frame that does not decode|a frame does not decode/],
  ['oversize', /a frame of \d+ bytes is over \d+/],
  ['malformed', /sent a malformed message: killed/],
  ['reused-cid', /reused call id 1: killed/],
  ['foreign-answer', /answered question 99999, which it was not asked: killed/],
  ['ready-twice', /said it was ready twice: killed/],
  ['unleased', /ran syscall 8 without a lease for it: killed/],
  ['overspent', /ran syscall 8 without a lease for it: killed/],
  ['after-revoke', /ran syscall 8 without a lease for it: killed/],
  ['pong-spam', /stopped answering for 600 ms: killed/],
  ['bye-unasked', /said bye without being told to exit: killed/],
];

describe('a sandbox host slow to report', () => {
  it('calls it ran under a lease that reach the kernel after the process ended are recorded after its exit, the host kept', async () => {
    process.env.HOSTILE_MODE = 'late';
    const log = new MemoryDecisionLog();
    kernel = testKernel({ recorder: log, hosts: { count: 1, agentsPerHost: 4, spares: 0, entry: HOSTILE } }).kernel;
    const proc = await kernel.spawnAsync(programFromSource('victim.ts', 'await new Promise(() => {});'));
    await until(() => log.list().some((r) => r.type === 'syscall' && r.pid === proc.pid && r.syscall === 'SYS_GETPID'), 'the call that brings the lease');
    kernel.kill(proc.pid, 'SIGKILL');
    await within(kernel.wait(proc.pid), 'the agent to end');
    await until(() => log.list().some((r) => r.type === 'limit' && r.pid === proc.pid), 'the late calls recorded');
    const list = log.list();
    expect(list.filter((r) => r.type === 'limit' && r.pid === proc.pid)).toHaveLength(1);
    const late = list.findIndex((r) => r.type === 'limit' && r.pid === proc.pid);
    expect(late).toBeGreaterThan(list.findIndex((r) => r.type === 'exit' && r.pid === proc.pid));
    expect(list[late]).toMatchObject({ detail: expect.stringMatching(/^3 calls its sandbox host ran under a lease before it learned the process had ended, recorded after its exit: 3 × SYS_GETPID allowed by /) });
    expect(kernel.hosts?.info().map((h) => h.state)).toEqual(['ready']);
  });
});

describe('a hostile sandbox host', () => {
  for (const [mode, recorded] of CASES) {
    it(`${mode}: the host is killed and its agent lost; the kernel goes on`, async () => {
      process.env.HOSTILE_MODE = mode;
      const log = new MemoryDecisionLog();
      kernel = testKernel({ recorder: log, hosts: { count: 1, agentsPerHost: 4, spares: 0, hangMs: 600, entry: HOSTILE } }).kernel;
      const proc = await kernel.spawnAsync(programFromSource('victim.ts', 'await new Promise(() => {});'));
      // A revocation, once the host has run a call under its lease.
      if (mode === 'after-revoke') {
        await until(() => (kernel?.hosts?.info() ?? []).some((h) => h.served > 0), 'a call run under the lease');
        kernel.kill(proc.pid, 'SIGCONT');
      }
      const exit = await within(kernel.wait(proc.pid), `the agent on the ${mode} host to end`, 20_000);
      expect(exit).toMatchObject({ status: exitStatusForSignal('SIGKILL'), reason: { kind: 'signal', signal: 'SIGKILL' } });
      expect(exit.reason.kind === 'signal' && exit.reason.why).toMatch(/^lost: sandbox host 1 \(pid \d+\) killed by SIGKILL$/);
      const events = () => log.list().flatMap((r) => (r.type === 'limit' && 'detail' in r ? [r.detail] : []));
      await until(() => events().some((d) => recorded.test(d)), () => `the host's fault recorded: ${events().join('; ')}`);
      expect(kernel.degraded).toBeUndefined();
      const alive = await runAgent("console.log('still here');");
      expect(alive.stdout).toBe('still here\n');
    }, 30_000);
  }
});
