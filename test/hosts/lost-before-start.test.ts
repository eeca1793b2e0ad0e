/**
 * A hosted process whose host dies after its spawn was acknowledged but
 * before its program started (its tree still being laid out, on a Redis
 * mount that had not answered yet) ends as lost, with one exit record. A
 * review suspected that it stayed in the table for good, never started and
 * never ended (the sandbox keeps an end that comes before its start for a
 * spawn that would fail); it does not: this test held on the code as it was.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryDecisionLog } from '../../kernel/decision-log.ts';
import type { KernelMount } from '../../kernel/mounts.ts';
import { programFromSource } from '../../kernel/program.ts';
import { RedisBackend } from '../../vfs/redis-backend.ts';
import { testKernel } from '../helpers.ts';
import { RedisProxy, redisForTests } from '../redis.ts';
import { until, within } from '../until.ts';

const env = await redisForTests('lost-before-start');
afterAll(() => env?.cleanup());

describe.skipIf(env === undefined)('a host that dies between a spawn and its start', () => {
  it('ends the process as lost once its tree is ready, and records its end', async () => {
    const proxy = new RedisProxy();
    await proxy.start();
    const client = await env!.client(proxy.url());
    const mounts: KernelMount[] = [{ path: 'mem/semantic', backend: (agentId) => new RedisBackend(client, { prefix: env!.prefix, root: `agent/${agentId}/mem/semantic` }) }];
    const log = new MemoryDecisionLog();
    const { kernel } = testKernel({ recorder: log, mounts, hosts: { count: 1, agentsPerHost: 8 } });
    try {
      await kernel.hosts!.readyOnce();
      // Redis holds every answer back: the new agent's tree cannot be laid out, so its program cannot start.
      proxy.stall();
      const proc = await kernel.spawnAsync(programFromSource('a.js', "console.log('ran');"), { agentId: 'fresh' });
      const ended = kernel.wait(proc.pid);
      const host = kernel.hosts!.info().find((h) => h.agents > 0);
      process.kill(host!.pid!, 'SIGKILL');
      await until(() => log.list().some((r) => r.type === 'limit' && 'detail' in r && / killed by SIGKILL/.test(r.detail)), 'the host death to be recorded');
      proxy.resume();
      const end = await within(ended, 'the process to end', 15_000);
      expect(end.reason).toMatchObject({ kind: 'signal', signal: 'SIGKILL', why: expect.stringMatching(/^lost: /) });
      expect(log.list().filter((r) => r.type === 'exit' && r.pid === proc.pid)).toHaveLength(1);
      expect(kernel.ps().filter((p) => p.pid === proc.pid && p.state !== 'exited')).toEqual([]);
    } finally {
      proxy.resume();
      await kernel.shutdown();
      await proxy.cut();
    }
  }, 60_000);
});
