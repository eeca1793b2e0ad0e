/**
 * `agentctl nodes` keeps a node that stopped beating: `dead`, with how long
 * ago it was last seen, beside the lost processes `ps` names it in. A node
 * stopped cleanly (SIGTERM) leaves the list: its processes ended and left
 * the directory with it. A dead node that beats again (a stall) or starts
 * again under its name is alive again, in the same row; a stalled one ends
 * the processes the cluster took for lost meanwhile.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentctl, clusterRedis, nodeSet, until, type Node } from './helpers.ts';

const redis = await clusterRedis('dead-nodes');
const TTL_MS = 1500;

interface Row {
  node: string;
  state: string;
  alive: boolean;
  silentMs: number;
  lastSeenAt: number;
  pid: number;
}

/** rows is GET /v1/cluster's node list through `through`. */
async function rows(through: Node): Promise<Row[]> {
  return ((await through.api('GET', '/v1/cluster')).body as { nodes: Row[] }).nodes;
}

async function row(through: Node, id: string): Promise<Row | undefined> {
  return (await rows(through)).find((n) => n.node === id);
}

describe.skipIf(redis === undefined)('nodes that stop beating', () => {
  const set = nodeSet(redis, { ttlMs: TTL_MS });
  const start = set.start;
  let a: Node;
  let b: Node;
  let c: Node;

  beforeAll(async () => {
    [a, b, c] = await Promise.all([start('node-a'), start('node-b'), start('node-c')]);
  }, 60_000);

  afterAll(() => set.remove());

  it('a node stopped with SIGTERM leaves the list at once', async () => {
    await until(async () => (await rows(b)).length === 3, 'three nodes listed');
    const exit = await c.stop('SIGTERM');
    expect(exit.status).toBe(0);
    expect((await rows(b)).map((n) => [n.node, n.state])).toEqual([
      ['node-a', 'alive'],
      ['node-b', 'alive'],
    ]);
  });

  it('a node killed with SIGKILL stays listed as dead, with when it was last seen, beside its lost processes', async () => {
    const pid = await a.spawn();
    a.child.kill('SIGKILL');
    await a.exited;
    const killedAt = Date.now();
    await until(async () => (await row(b, 'node-a'))?.state === 'dead', 'node A to be found dead', 10_000);
    const dead = (await row(b, 'node-a'))!;
    expect(dead).toMatchObject({ state: 'dead', alive: false, pid: a.child.pid });
    expect(dead.silentMs).toBeGreaterThan(TTL_MS);
    // Redis's clock and ours are the same host's: the last beat came before the kill.
    expect(dead.lastSeenAt).toBeLessThanOrEqual(killedAt + 50);

    // Still there beats later, seen longer ago each time.
    await until(async () => {
      const now = await row(b, 'node-a');
      expect(now?.state).toBe('dead');
      return now!.silentMs > dead.silentMs + 2 * TTL_MS;
    }, 'node A to stay listed as dead for two more TTLs');

    const listed = await agentctl(b, 'nodes');
    expect(listed.status).toBe(0);
    expect(listed.stdout).toMatch(/^NODE\s+STATE\s+LAST SEEN\s+HOST\s+PID\s+URL$/m);
    expect(listed.stdout).toMatch(new RegExp(`^node-a\\s+dead\\s+\\d+ (ms|s) ago\\s+\\S+\\s+${a.child.pid}\\s+${a.url}$`, 'm'));
    expect(listed.stdout).toMatch(/^node-b\s+alive\s+\d+ ms ago\s/m);
    const json = JSON.parse((await agentctl(b, 'nodes', '--json')).stdout) as { nodes: Row[] };
    expect(json.nodes.map((n) => [n.node, n.state])).toEqual([
      ['node-a', 'dead'],
      ['node-b', 'alive'],
    ]);
    const ps = await agentctl(b, 'ps');
    expect(ps.stdout).toMatch(new RegExp(`^${pid}\\s.*\\slost\\s.*node-a\\s*$`, 'm'));
  });

  it('a node started again under its name is alive again, in the same row', async () => {
    const again = await start('node-a');
    await until(async () => (await row(b, 'node-a'))?.state === 'alive', 'node A to be alive again');
    const list = await rows(b);
    expect(list.map((n) => [n.node, n.state])).toEqual([
      ['node-a', 'alive'],
      ['node-b', 'alive'],
    ]);
    expect(list[0]!.pid).toBe(again.child.pid);
  });

  it('a node that stalls past the TTL is dead while it stalls; once it beats it is alive again, and its processes stay lost: it ends them', async () => {
    const stalled = set.nodes.at(-1)!;
    const pid = await stalled.spawn();
    stalled.child.kill('SIGSTOP');
    try {
      await until(async () => (await row(b, 'node-a'))?.state === 'dead', 'the stalled node to be found dead', 10_000);
      await until(async () => ((await b.api('GET', `/v1/processes/${pid}`)).body.state as string) === 'lost', 'its process to be lost');
    } finally {
      stalled.child.kill('SIGCONT');
    }
    await until(async () => (await row(b, 'node-a'))?.state === 'alive', 'the node to be alive again');
    // The cluster took its process for lost (a parent, a question of it, may have been told so): it does not run on. It
    // used to be written back as running at the node's first beat, and a question another node had adopted meanwhile
    // was answered on both (an attacker pass).
    await until(async () => ((await stalled.api('GET', `/v1/processes/${pid}`)).body.state as string) === 'exited', 'the node to end its process');
    expect((await b.api('GET', `/v1/processes/${pid}`)).body.state).toBe('lost');
    expect((await stalled.api('GET', `/v1/processes/${pid}/output`)).body.stdout).toBe('ready\n');
    const killed = (await stalled.api('GET', `/v1/decisions?since=0&type=signal`)).body as { pid: number; detail?: string }[];
    expect(killed.find((r) => r.pid === pid)?.detail).toMatch(/node-a was taken for dead while cut off from Redis/);
    // The node itself goes on: a new spawn there runs.
    const again = await stalled.spawn();
    await until(async () => ((await b.api('GET', `/v1/processes/${again}`)).body.state as string) !== undefined, 'the new process to be listed');
    expect((await b.api('GET', `/v1/processes/${again}`)).body.state).not.toBe('lost');
  });
});
