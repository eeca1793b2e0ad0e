/**
 * A node that dies (SIGKILL: no chance to say goodbye) leaves its processes
 * marked lost in the directory, never running: another node sees them lost
 * once the dead node's heartbeat is older than the TTL, refuses to signal
 * them, and adopts the questions agents outside the kernel had asked
 * through it (their askers are not lost with it). A node started
 * again under the same name does not bring its old processes back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentctl, clusterRedis, nodeSet, until, type Node } from './helpers.ts';
import { POLICY_1 } from './policies.ts';

const redis = await clusterRedis('node-lost');
const CONFIG = 'policy: policy.yaml\napprovals: { mode: operator }';
const TTL_MS = 1500;

describe.skipIf(redis === undefined)('a node killed with SIGKILL', () => {
  const set = nodeSet(redis, { config: CONFIG, files: { 'policy.yaml': POLICY_1 }, ttlMs: TTL_MS });
  const start = set.start;
  let a: Node;
  let b: Node;

  beforeAll(async () => {
    [a, b] = await Promise.all([start('node-a'), start('node-b')]);
  }, 60_000);

  afterAll(() => set.remove());

  it('shows up as lost: its processes, its questions, and its place in the cluster', async () => {
    const lost = [await a.spawn(), await a.spawn()];
    const kept = await b.spawn();
    // Found by an attacker pass: a program named with a lone UTF-16 surrogate made Redis's JSON decoder refuse its
    // directory entry, so the burial skipped it and the process stayed running in the directory for good. Such a path
    // is now refused by the VFS (EINVAL: vfs/lone-surrogates); a child named outside the BMP is buried like any other.
    const parent = await a.spawn("sys.writeFile('mem/x\\ud83d\\ude00.js', 'await new Promise(() => {});'); sys.spawn('mem/x\\ud83d\\ude00.js'); console.log('ready'); await new Promise(() => {});");
    let odd = 0;
    await until(async () => (odd = ((await a.api('GET', '/v1/processes')).body as { pid: number; ppid: number }[]).find((p) => p.ppid === parent)?.pid ?? 0) > 0, 'the oddly named child');
    lost.push(parent, odd);
    // A child is in the directory from its node's next beat.
    await until(async () => ((await b.api('GET', '/v1/processes')).body as { pid: number }[]).some((p) => p.pid === odd), 'node B to see the child');
    const question = (await a.api('POST', '/v1/evaluate', { agent: 'payer', action: 'payment.send' })).body.approval_id as string;
    await until(async () => ((await b.api('GET', '/v1/approvals')).body as { id: string }[]).some((q) => q.id === question), 'the question on node B');

    a.child.kill('SIGKILL');
    await a.exited;
    const killedAt = Date.now();
    let states: Record<number, string> = {};
    await until(async () => {
      const list = (await b.api('GET', '/v1/processes')).body as { pid: number; state: string }[];
      states = Object.fromEntries(list.map((p) => [p.pid, p.state]));
      return lost.every((pid) => states[pid] === 'lost');
    }, 'node A\'s processes to be lost', 10_000);
    expect(Date.now() - killedAt).toBeLessThan(TTL_MS + 3000);
    expect(states[kept]).not.toBe('lost');

    // The burial is written to the directory (not only derived when read), with when.
    await until(async () => ((await b.api('GET', `/v1/processes/${lost[0]}`)).body.lostAt ?? 0) > 0, 'the burial to be stored');
    await until(async () => ((await b.api('GET', `/v1/processes/${odd}`)).body.lostAt ?? 0) > 0, 'the burial of the oddly named child to be stored', 3000);
    const ps = await agentctl(b, 'ps');
    for (const pid of lost) expect(ps.stdout).toMatch(new RegExp(`^${pid}\\s.*\\slost\\s.*node-a\\s*$`, 'm'));

    const signal = await b.api('POST', `/v1/processes/${lost[0]}/signal`, { signal: 'SIGTERM' });
    expect([signal.status, signal.body.errno, signal.body.error]).toEqual([404, 'ESRCH', `process ${lost[0]} was lost with node node-a`]);

    // The question came from an agent outside the kernel, which is not lost with the node: node B adopts it.
    await until(async () => ((await b.api('GET', '/v1/approvals')).body as { id: string; node: string }[]).some((q) => q.id === question && q.node === 'node-b'), 'node B to adopt node A\'s question');
    expect((await b.api('POST', `/v1/approvals/${question}/approve`, { reason: 'ok' })).status).toBe(200);
    expect((await b.api('POST', '/v1/evaluate', { agent: 'payer', action: 'payment.send', approval_id: question })).body).toMatchObject({ decision: 'allow' });
    const adopted = ((await b.api('GET', '/v1/decisions?type=approval')).body as { detail: string }[]).map((r) => r.detail);
    expect(adopted.some((d) => d.startsWith(`adopted payment.send (${question}) from node node-a (it was lost)`))).toBe(true);
    const view = (await b.api('GET', '/v1/cluster')).body as { nodes: { node: string; state: string }[] };
    expect(view.nodes.map((n) => [n.node, n.state])).toEqual([
      ['node-a', 'dead'],
      ['node-b', 'alive'],
    ]);
  });

  it('a node started again under the same name leaves its old processes lost and hands out new pids', async () => {
    const before = ((await b.api('GET', '/v1/processes')).body as { pid: number; state: string; node: string }[]).filter((p) => p.node === 'node-a');
    expect(before.length).toBeGreaterThan(0);
    const again = await start('node-a');
    const fresh = await again.spawn();
    expect(before.map((p) => p.pid)).not.toContain(fresh);
    const list = (await again.api('GET', '/v1/processes')).body as { pid: number; state: string; node: string }[];
    for (const old of before) expect(list.find((p) => p.pid === old.pid)?.state).toBe('lost');
    expect(list.find((p) => p.pid === fresh)).toMatchObject({ node: 'node-a' });
    expect(list.find((p) => p.pid === fresh)?.state).not.toBe('lost');
  });
});
