/**
 * The cluster pid allocator (kernel/cluster/pids.ts) across a Redis that
 * lost the counter, on a real Redis with one connection per node as two
 * agentd would have. Losing the keys is what a Redis restarted empty looks
 * like to them (test/cluster/redis-empty.test.ts restarts a real server
 * under agentd). Before the fence, the first node back raised the counter
 * only past its own pids and reserved the next block: the very pids the
 * other node held and was handing out.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { KernelError } from '../../abi/errno.ts';
import { RedisHealth } from '../../kernel/cluster/health.ts';
import { PidAllocator } from '../../kernel/cluster/pids.ts';
import { ClusterKeys, type RedisClient } from '../../kernel/cluster/redis.ts';
import { redisForTests } from '../redis.ts';
import { until } from './helpers.ts';

const env = await redisForTests('pids');
const FENCE_MS = 600;
const BLOCK = 4;

/** take hands out `n` pids (retrying EAGAIN while a block is on its way). */
const take = async (allocator: PidAllocator, n: number): Promise<number[]> => {
  const pids: number[] = [];
  while (pids.length < n) {
    try {
      pids.push(allocator.next());
    } catch (err) {
      if (!(err instanceof KernelError) || err.errno !== 'EAGAIN') throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  return pids;
};

describe.skipIf(env === undefined)('cluster pids after Redis lost the counter', () => {
  const healths: RedisHealth[] = [];
  const keys = new ClusterKeys(`${env?.prefix}:pids`);
  let admin: RedisClient;

  afterAll(async () => {
    for (const h of healths) h.close();
    await admin?.del(keys.pid, keys.pidFence);
    await env?.cleanup();
  });

  /** node makes one node's allocator, on its own connection, with a small block. */
  const node = async () => {
    const client = await env!.client();
    const health = new RedisHealth([client], env!.prefix, 100);
    healths.push(health);
    await until(async () => health.ready, 'the node to reach Redis');
    return new PidAllocator(client, keys, health, FENCE_MS, BLOCK);
  };

  it('no node reserves a block another node held until the fence passes, and no pid is handed out twice', async () => {
    admin = await env!.client();
    const [a, b] = [await node(), await node()];
    // A fresh counter is fenced too: the first node cannot tell it from a lost one. recover() does not wait for the
    // fence (a node keeps beating meanwhile); settled() does, as a node that starts does before it serves.
    await a.recover();
    expect(a.fence).toBeGreaterThan(0);
    const t0 = Date.now();
    await a.settled();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(FENCE_MS - 100);
    await b.recover();
    await b.settled();
    const before = [...(await take(a, 1)), ...(await take(b, 1))];
    expect(before).toEqual([1, BLOCK + 1]);

    // Redis loses the counter. A comes back first: it may hand out what it still holds, but reserves nothing new.
    await admin.del(keys.pid, keys.pidFence);
    await a.recover();
    expect(a.fence).toBeGreaterThan(0);
    expect(await admin.get(keys.pid)).toBe(String(BLOCK));
    const aPids = take(a, 12);
    // B comes back within the fence and raises the counter past its own block.
    await b.recover();
    expect(Number(await admin.get(keys.pid))).toBeGreaterThanOrEqual(BLOCK * 2);
    const handed = [...before, ...(await aPids), ...(await take(b, 12))];
    expect(new Set(handed).size).toBe(handed.length);
  }, 20_000);

  // Found by the attacker pass (and this test's first version by CI): a counter lost while every node stayed connected
  // (a flush, an eviction) was raised only by the node whose reservation found it missing, which then reserved the block
  // another node still held.
  it('a counter lost with no node reconnecting is raised past each node\'s pids at its next reservation', async () => {
    const [c, d] = [await node(), await node()];
    await c.recover();
    await c.settled();
    await d.recover();
    await d.settled();
    const first = [...(await take(c, BLOCK)), ...(await take(d, BLOCK))];
    // Each holds a block it has not handed out yet, D's right after C's.
    await c.refill();
    await d.refill();
    // Both beat, as their nodes do (every heartbeat is well inside a fence).
    const beats = setInterval(() => void Promise.all([c.beat(), d.beat()]), FENCE_MS / 6);
    try {
      await admin.del(keys.pid, keys.pidFence);
      // Neither recovers: their heartbeats and reservations alone must keep every pid unique — C reserves while D
      // still holds a block it reserved before the loss.
      const after = [...(await take(c, BLOCK * 3)), ...(await take(d, BLOCK * 3))];
      const handed = [...first, ...after];
      expect(new Set(handed).size).toBe(handed.length);
    } finally {
      clearInterval(beats);
    }
  }, 20_000);

  it('a counter rolled back below a node\'s pids is raised and fenced; one above them is left alone', async () => {
    const e = await node();
    await e.recover();
    await e.settled();
    await take(e, BLOCK * 3);
    const high = Number(await admin.get(keys.pid));
    await admin.set(keys.pid, String(high - BLOCK * 2));
    await admin.del(keys.pidFence);
    await e.recover();
    expect(e.fence).toBeGreaterThan(0);
    expect(Number(await admin.get(keys.pid))).toBeGreaterThanOrEqual(high);
    // Nobody was behind: the next recover sets no fence.
    await admin.del(keys.pidFence);
    await e.recover();
    expect(e.fence).toBe(0);
  }, 20_000);
});
