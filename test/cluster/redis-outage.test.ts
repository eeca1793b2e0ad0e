/**
 * Redis stopped and started again while agents run on two nodes (a
 * redis-server of this test's own, append-only and fsynced on every write).
 * While it is away: both daemons stay up and report not ready (/readyz
 * 503), every operation that needs shared state fails closed (EIO, HTTP
 * 503: spawn, ps, a signal to another node, a policy replacement) and a
 * question that would need another node is denied, while agents keep
 * running and signals to a node's own processes still work (within the
 * nodes' lease; past it they decide nothing: split.test.ts). When it comes
 * back everything resumes, and nothing that was acknowledged is lost.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePolicy } from '../../kernel/policy/load.ts';
import { RedisServer, startNode, until, type Node } from './helpers.ts';
import { POLICY_1, POLICY_2 } from './policies.ts';

/** Each SIGUSR1 is one tick, counted in the agent's memory and printed. */
const TICKER = `let n = 0;
sys.signal.on('SIGUSR1', () => { n++; sys.writeFile('mem/working/ticks', String(n)); console.log('tick ' + n); });
console.log('ready');
await new Promise(() => {});`;

const available = RedisServer.available('redis-outage');
const CONFIG = 'policy: policy.yaml\napprovals: { mode: operator }';

describe.skipIf(!available)('Redis stopped and restarted under two busy nodes', () => {
  let server: RedisServer;
  let a: Node;
  let b: Node;
  const prefix = `outage-${randomUUID().slice(0, 8)}`;
  /** pid → its node and how many ticks it acknowledged. */
  const agents = new Map<number, { node: Node; ticks: number }>();

  const tick = async (through: Node, pid: number) => {
    const res = await through.api('POST', `/v1/processes/${pid}/signal`, { signal: 'SIGUSR1' });
    expect([res.status, res.body]).toEqual([200, { outcome: 'delivered' }]);
    const agent = agents.get(pid)!;
    agent.ticks++;
    const want = `tick ${agent.ticks}\n`;
    await until(async () => (await agent.node.api('GET', `/v1/processes/${pid}/output`)).body.stdout.endsWith(want), `pid ${pid} to print ${want.trim()}`);
  };

  beforeAll(async () => {
    server = await RedisServer.start();
    // A TTL long enough that the outage's checks all run within the nodes' lease (past it a node decides nothing: test/cluster/split.test.ts).
    const common = { redisUrl: server.url, prefix, config: CONFIG, files: { 'policy.yaml': POLICY_1 }, ttlMs: 10_000 };
    [a, b] = await Promise.all([startNode({ ...common, id: 'node-a' }), startNode({ ...common, id: 'node-b' })]);
    for (const node of [a, a, b, b]) agents.set(await node.spawn(TICKER), { node, ticks: 0 });
    for (const [pid, { node }] of agents) await tick(node === a ? b : a, pid);
  }, 90_000);

  afterAll(async () => {
    await Promise.all([a?.remove(), b?.remove()]);
    server?.remove();
  });

  it('fails closed while Redis is away, then resumes with nothing acknowledged lost', async () => {
    const v2 = parsePolicy(POLICY_2, 'p2.yaml').version;
    expect((await a.api('PUT', '/v1/policy', { source: POLICY_2, filename: 'p2.yaml' })).body).toMatchObject({ ok: true, version: v2 });
    await until(async () => (await b.api('GET', '/v1/policy')).body.version === v2, 'node B on the new policy');

    server.down();
    for (const node of [a, b]) {
      await until(async () => (await node.api('GET', '/readyz')).status === 503, `${node.id} to report not ready`, 10_000);
      const ready = await node.api('GET', '/readyz');
      expect(ready.body).toMatchObject({ ready: false });
      expect(ready.body.error).toMatch(/Redis .* is unreachable/);
      expect((await node.api('GET', '/healthz')).status).toBe(200);
    }
    const [aPid, , bPid] = [...agents.keys()];

    const spawn = await a.api('POST', '/v1/processes', { source: TICKER, filename: 'agent.js' });
    expect([spawn.status, spawn.body.errno]).toEqual([503, 'EIO']);
    const ps = await b.api('GET', '/v1/processes');
    expect([ps.status, ps.body.errno]).toEqual([503, 'EIO']);
    const remote = await b.api('POST', `/v1/processes/${aPid}/signal`, { signal: 'SIGUSR1' });
    expect([remote.status, remote.body.errno]).toEqual([503, 'EIO']);
    const put = await b.api('PUT', '/v1/policy', { source: POLICY_1, filename: 'p1.yaml' });
    expect([put.status, put.body.ok, put.body.kept]).toEqual([503, false, v2]);
    expect((await a.api('GET', '/v1/approvals')).status).toBe(503);
    // A question no other node could see is denied at once, by the cluster, and answered as the deny it is.
    const asked = (await a.api('POST', '/v1/evaluate', { agent: 'payer', action: 'payment.send' })).body;
    expect(asked).toMatchObject({ decision: 'deny', rule: 'payments-need-approval', reason: expect.stringMatching(/^approval \S+ was denied as it was asked, by cluster: /), policy_version: v2 });
    await until(async () => (await a.api('GET', `/v1/approvals/${asked.approval_id}`)).body.status === 'denied', 'the question to be denied');
    expect((await a.api('GET', `/v1/approvals/${asked.approval_id}`)).body.answer).toMatchObject({ approved: false, approver: 'cluster' });
    // Agents keep running; each node still signals its own processes; decisions go on under the policy in force.
    for (const [pid, { node }] of agents) await tick(node, pid);
    expect((await b.api('POST', '/v1/evaluate', { agent: 'reporter', action: 'report.send' })).body).toMatchObject({ decision: 'allow', policy_version: v2 });

    await server.up();
    for (const node of [a, b]) await until(async () => (await node.api('GET', '/readyz')).status === 200, `${node.id} to be ready again`, 15_000);

    // Every process acknowledged before the outage is listed through either node, none lost.
    for (const node of [a, b]) {
      const list = (await node.api('GET', '/v1/processes')).body as { pid: number; node: string; state: string }[];
      for (const [pid, agent] of agents) expect(list.find((p) => p.pid === pid)).toMatchObject({ node: agent.node.id, state: expect.stringMatching(/^(blocked|running)$/) });
    }
    // Cross-node signals, spawns and policy replacement work again; pids stay unique.
    await tick(b, aPid!);
    await tick(a, bPid!);
    const fresh = [await a.spawn(TICKER), await b.spawn(TICKER)];
    for (const pid of fresh) expect(agents.has(pid)).toBe(false);
    expect(fresh[0]).not.toBe(fresh[1]);
    for (const node of [a, b]) expect((await node.api('GET', '/v1/policy')).body.version).toBe(v2);
    const v1 = parsePolicy(POLICY_1, 'p1.yaml').version;
    expect((await b.api('PUT', '/v1/policy', { source: POLICY_1, filename: 'p1.yaml' })).status).toBe(200);
    await until(async () => (await a.api('GET', '/v1/policy')).body.version === v1, 'node A on the replaced policy', 1000);
    // Every tick an agent acknowledged is in its memory, and both decision logs verify.
    for (const [pid, agent] of agents) {
      const cat = await agent.node.api('GET', `/v1/processes/${pid}/vfs/cat?path=mem/working/ticks`);
      expect(cat.body.text).toBe(String(agent.ticks));
    }
    for (const node of [a, b]) expect((await node.api('POST', '/v1/audit/verify')).body).toMatchObject({ ok: true });
  }, 90_000);
});
