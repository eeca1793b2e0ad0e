/**
 * Every live node of a cluster must share node_ttl_ms and heartbeat_ms: a
 * node buries another after its own TTL, so a node with a shorter one took
 * the others for dead while they beat on time (their processes lost, their
 * questions adopted). On the real Redis: a node whose timing differs from an
 * older live node's is refused (agentd does not start, naming both), buries
 * nothing meanwhile, and may join once the older node has left.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessDirectory, type NodeInfo } from '../../kernel/cluster/directory.ts';
import { RedisHealth } from '../../kernel/cluster/health.ts';
import { ClusterKeys } from '../../kernel/cluster/redis.ts';
import { connectRedis, whenReady, type RedisClient } from '../../kernel/redis/connect.ts';
import { clusterRedis, startNode, until } from './helpers.ts';

const redis = await clusterRedis('node-timing');

describe.skipIf(redis === undefined)('node timing across a cluster', () => {
  let client: RedisClient;
  let health: RedisHealth;
  let keys: ClusterKeys;
  const directory = (node: string, ttlMs: number, startedAt: number) => {
    const info: NodeInfo = { node, url: `http://${node}`, host: 'test', pid: 0, startedAt, ttlMs, heartbeatMs: 100 };
    return new ProcessDirectory(client, keys, health, info, ttlMs);
  };

  beforeAll(async () => {
    client = connectRedis({ url: redis!.url });
    await whenReady(client);
    health = new RedisHealth([client], redis!.url, 100);
    await until(() => health.ready, 'the Redis health to be up');
    keys = new ClusterKeys(`${redis!.prefix}.dir`);
  });

  afterAll(async () => {
    health?.close();
    client?.disconnect();
    await redis?.cleanup();
  });

  it('refuses the node that joined later of two live nodes that disagree, which buries nothing; the first is not refused', async () => {
    const older = directory('older', 1000, 5);
    await older.beat([], { mayBury: true, full: true });
    const silent = directory('silent', 1000, 0);
    await silent.beat([], { mayBury: false, full: true });
    // Its host's clock says it started first: what counts is when Redis saw it join (a review: ranked by startedAt, it stopped the node serving).
    const younger = directory('younger', 300, 1);
    expect(await younger.claim()).toBe('node older, alive and in the cluster before this one, has node_ttl_ms 1000 and heartbeat_ms 100');
    // Past the younger's TTL of 300 ms, short of the cluster's 1,000: its beats take no node for dead.
    await new Promise((r) => setTimeout(r, 400));
    await older.beat([], { mayBury: false, full: false });
    const beat = await younger.beat([], { mayBury: true, full: true });
    expect(beat.conflict).toContain('node older');
    expect(beat.buried).toEqual([]);
    expect((await older.beat([], { mayBury: false, full: false })).conflict).toBeUndefined();
    // Once the older node has left, the younger one conflicts with nobody.
    await older.leave();
    await silent.leave();
    expect(await younger.claim()).toBeUndefined();
    expect((await younger.beat([], { mayBury: true, full: false })).conflict).toBeUndefined();
  });

  it('agentd does not start as a node whose node_ttl_ms differs from a live node of its cluster, and says why', async () => {
    const common = { redisUrl: redis!.url, prefix: `${redis!.prefix}.agentd`, heartbeatMs: 200 };
    const a = await startNode({ ...common, id: 'a', ttlMs: 1500 });
    try {
      const started = startNode({ ...common, id: 'b', ttlMs: 3000 });
      await expect(started).rejects.toThrow(/agentd b exited \(2\): agentd: .*redis\.node_ttl_ms 3000 and heartbeat_ms 200 differ from the cluster's: node a, alive and in the cluster before this one, has node_ttl_ms 1500 and heartbeat_ms 200/);
      // The same timing joins.
      const c = await startNode({ ...common, id: 'c', ttlMs: 1500 });
      await c.remove();
      expect((await a.api('GET', '/readyz')).status).toBe(200);
    } finally {
      await a.remove();
    }
  });
});
