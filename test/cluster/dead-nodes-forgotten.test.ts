/**
 * How long the directory lists a dead node, on the real Redis: the beat
 * that buries a node moves it to the dead list, the dead list keeps only the
 * most recently seen, a dead node that beats again is alive (and leaves the
 * dead list), and one last seen longer ago than the keep time is forgotten
 * by the next beat. agentd keeps dead nodes for DEAD_NODE_KEPT_MS (a day),
 * so this drives ProcessDirectory itself with a short time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessDirectory, type NodeInfo } from '../../kernel/cluster/directory.ts';
import { RedisHealth } from '../../kernel/cluster/health.ts';
import { ClusterKeys } from '../../kernel/cluster/redis.ts';
import { connectRedis, whenReady, type RedisClient } from '../../kernel/redis/connect.ts';
import { clusterRedis, until } from './helpers.ts';

const redis = await clusterRedis('dead-nodes-forgotten');
const TTL_MS = 200;
const KEPT_MS = 1500;

/** states is each listed node with its state, as `through` reads them. */
async function states(through: ProcessDirectory): Promise<string[][]> {
  return (await through.nodes()).map((n) => [n.node, n.state]);
}

describe.skipIf(redis === undefined)('the dead nodes a directory lists', () => {
  let client: RedisClient;
  let health: RedisHealth;
  let keys: ClusterKeys;
  const directory = (node: string) => {
    const info: NodeInfo = { node, url: `http://${node}`, host: 'test', pid: 0, startedAt: Date.now() };
    return new ProcessDirectory(client, keys, health, info, TTL_MS, { keptMs: KEPT_MS, listed: 2 });
  };
  const serverMs = async () => {
    const [seconds, micros] = await client.time();
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  };

  beforeAll(async () => {
    client = connectRedis({ url: redis!.url });
    await whenReady(client);
    health = new RedisHealth([client], redis!.url, 100);
    await until(() => health.ready, 'the Redis health to be up');
    keys = new ClusterKeys(redis!.prefix);
  });

  afterAll(async () => {
    health?.close();
    client?.disconnect();
    await redis?.cleanup();
  });

  it('lists the most recently seen dead nodes, brings back one that beats, and forgets one seen longer ago than the keep time', async () => {
    const survivor = directory('s');
    const dying = ['d1', 'd2', 'd3'].map(directory);
    // Each dies a little later than the one before (distinct last beats on Redis's clock).
    for (const d of dying) {
      await d.beat([], { mayBury: false, full: true });
      const beat = Number(await client.zscore(keys.beats, d.node));
      await until(async () => (await serverMs()) > beat, 'the Redis clock to move on');
    }
    const buried = new Set<string>();
    await until(async () => {
      for (const n of (await survivor.beat([], { mayBury: true, full: false })).buried) buried.add(n);
      return buried.size === 3;
    }, 'the three silent nodes to be buried');
    // Two dead nodes at most: the one seen longest ago is forgotten.
    expect(await states(survivor)).toEqual([
      ['d2', 'dead'],
      ['d3', 'dead'],
      ['s', 'alive'],
    ]);
    const d2 = (await survivor.nodes()).find((n) => n.node === 'd2')!;
    expect(d2.silentMs).toBeLessThan(KEPT_MS);

    // A dead node that beats again is alive, in its row.
    await dying[2]!.beat([], { mayBury: false, full: false });
    expect(await states(survivor)).toEqual([
      ['d2', 'dead'],
      ['d3', 'alive'],
      ['s', 'alive'],
    ]);
    expect(await client.zscore(keys.dead, 'd3')).toBeNull();

    // d2 stays listed until it was last seen KEPT_MS ago; then a beat forgets it.
    let goneAt = 0;
    await until(async () => {
      await dying[2]!.beat([], { mayBury: false, full: false });
      await survivor.beat([], { mayBury: true, full: false });
      const list = await survivor.nodes();
      if (list.some((n) => n.node === 'd2')) return false;
      goneAt = await serverMs();
      return true;
    }, 'd2 to be forgotten', 10_000);
    expect(goneAt - d2.lastSeenAt).toBeGreaterThanOrEqual(KEPT_MS);
    expect(await states(survivor)).toEqual([
      ['d3', 'alive'],
      ['s', 'alive'],
    ]);
    expect(await client.hget(keys.nodes, 'd2')).toBeNull();
  });

  it('a node forgotten after its burial still learns it was buried when it beats again; one whose Redis lost its data does not', async () => {
    const survivor = directory('s2');
    const cut = directory('cut');
    await cut.beat([], { mayBury: false, full: true });
    await until(async () => (await survivor.beat([], { mayBury: true, full: false })).buried.includes('cut'), 'cut to be buried', 5000);
    // Forgotten: 'cut' leaves the dead list and the node list (here by the keep time; 32 more recent dead nodes do the same).
    await until(async () => {
      await survivor.beat([], { mayBury: true, full: false });
      return (await client.hget(keys.nodes, 'cut')) === null;
    }, 'cut to be forgotten', 10_000);
    expect(await client.zscore(keys.dead, 'cut')).toBeNull();
    // Back: it was buried (its processes are lost), though no list says so any more.
    expect(await cut.wasBuried()).toBe(true);
    expect((await cut.beat([], { mayBury: false, full: false })).wasBuried).toBe(true);
    expect((await cut.beat([], { mayBury: false, full: false })).wasBuried).toBe(false);

    // A Redis that lost its data (every key of the cluster gone): nothing was buried, the node writes its state back.
    const keysNow = await client.keys(`${keys.tag}:*`);
    await client.del(...keysNow);
    expect(await cut.wasBuried()).toBe(false);
    expect((await cut.beat([], { mayBury: false, full: false })).wasBuried).toBe(false);
  });
});

