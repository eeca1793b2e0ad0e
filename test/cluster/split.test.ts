/**
 * A node cut off from Redis (a network split) decides nothing once the
 * others may have taken it for dead, and one that comes back from a burial
 * does not pick up where it was: the cluster has its processes lost and its
 * questions from outside adopted by another node. Found by an attacker
 * pass: node A, cut off past the TTL and back, answered a question node B
 * had adopted meanwhile (granted on A, denied on B: one approval id, two
 * redemptions), and wrote its lost process back as running; a node started
 * with Redis out of reach decided under its own configured policy, not the
 * cluster's. Node A talks to Redis through a proxy the test cuts.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisProxy } from '../redis.ts';
import { clusterRedis, startNode, until, type Node, type Reply } from './helpers.ts';
import { POLICY_1, POLICY_2 } from './policies.ts';

const redis = await clusterRedis('split');
const CONFIG = 'policy: policy.yaml\napprovals: { mode: operator }';
const FILES = { 'policy.yaml': POLICY_1 };
const IDLE = "console.log('ready'); await new Promise(() => {});";

describe.skipIf(redis === undefined)('a node cut off from Redis', () => {
  const proxy = new RedisProxy(redis?.url);
  let a: Node;
  let b: Node;
  const nodes: Node[] = [];

  beforeAll(async () => {
    await proxy.start();
    const common = { prefix: redis!.prefix, config: CONFIG, files: FILES };
    [a, b] = await Promise.all([startNode({ ...common, redisUrl: proxy.url(redis!.url), id: 'node-a' }), startNode({ ...common, redisUrl: redis!.url, id: 'node-b' })]);
    nodes.push(a, b);
  }, 60_000);

  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.remove()));
    await proxy.cut();
    await redis?.cleanup();
  });

  it('past its lease decides nothing; back from its burial it lets go of what the cluster gave away', async () => {
    const pid = await a.spawn(IDLE);
    // A process of node A waits on a question of its own (deleting memory needs an operator).
    const asker = await a.spawn("sys.writeFile('mem/x', '1'); console.log('ready'); sys.unlink('mem/x'); console.log('unlinked');");
    let own = '';
    await until(async () => (own = ((await a.api('GET', '/v1/approvals')).body as { id: string; pid: number }[]).find((q) => q.pid === asker)?.id ?? '') !== '', 'the process to ask');
    const asked = (await a.api('POST', '/v1/evaluate', { agent: 'payer', action: 'payment.send' })).body as { decision: string; approval_id: string };
    expect(asked.decision).toBe('require_approval');
    const id = asked.approval_id;
    await until(async () => ((await b.api('GET', '/v1/approvals')).body as { id: string }[]).some((q) => q.id === id), 'the question on node B');

    await proxy.cut();
    await until(async () => ((await b.api('GET', '/v1/approvals')).body as { id: string; node: string }[]).some((q) => q.id === id && q.node === 'node-b'), 'node B to bury node A and adopt its question', 15_000);
    // Node A, cut off that long, decides nothing (it decided under its last policy for less than its lease).
    const cutOff = (await a.api('POST', '/v1/evaluate', { agent: 'reporter', action: 'report.send' })).body as { decision: string; rule: string; reason: string };
    expect(cutOff).toMatchObject({ decision: 'deny', rule: 'kernel.fail-closed' });
    expect(cutOff.reason).toMatch(/has not reached Redis for \d+ ms .*decides nothing until it is back/);
    // Nor does an operator's approval take effect there, of its own process's question or of one from outside (node B
    // denied both by the burial: an approval on A ran the unlink, and granted what B denied, before the review's fix).
    for (const question of [own, id]) {
      const approve = await a.api('POST', `/v1/approvals/${question}/approve`, { reason: 'yes, on A' });
      expect({ status: approve.status, errno: approve.body.errno }).toEqual({ status: 503, errno: 'EIO' });
    }

    await proxy.restore();
    await until(async () => (await a.api('GET', '/readyz')).status === 200, 'node A to be ready again', 15_000);
    // The question is node B's: answered there, it reads the same through both nodes, and node A redeems nothing.
    expect((await b.api('POST', `/v1/approvals/${id}/deny`, { reason: 'no' })).status).toBe(200);
    const approve = await a.api('POST', `/v1/approvals/${id}/approve`, { reason: 'yes' });
    expect(approve.status).not.toBe(200);
    for (const node of [a, b]) expect((await node.api('GET', `/v1/approvals/${id}`)).body).toMatchObject({ status: 'denied', answer: { approved: false, reason: 'no' } });
    for (const node of [a, b]) expect((await node.api('POST', '/v1/evaluate', { agent: 'payer', action: 'payment.send', approval_id: id })).body.decision).toBe('deny');
    // The process that asked never unlinked; like the other, it stays lost in the cluster and node A ended it.
    await until(async () => ((await a.api('GET', `/v1/processes/${asker}`)).body.state as string) === 'exited', 'node A to end the process that asked');
    expect((await a.api('GET', `/v1/processes/${asker}/output`)).body.stdout).toBe('ready\n');
    const unlinks = (await a.api('GET', `/v1/decisions?since=0&type=outcome&syscall=SYS_UNLINK`)).body as unknown[];
    expect(unlinks).toEqual([]);
    expect((await a.api('GET', `/v1/decisions?since=0&type=syscall&syscall=SYS_UNLINK`)).body).toMatchObject([{ decision: 'require_approval' }]);
    // Its process stays lost in the cluster; node A ended it. Node A decides again.
    await until(async () => ((await a.api('GET', `/v1/processes/${pid}`)).body.state as string) === 'exited', 'node A to end its lost process');
    expect((await b.api('GET', `/v1/processes/${pid}`)).body.state).toBe('lost');
    expect((await a.api('POST', '/v1/evaluate', { agent: 'payer', action: 'payment.send' })).body).toMatchObject({ decision: 'require_approval', rule: 'payments-need-approval' });
    for (const node of [a, b]) expect((await node.api('POST', '/v1/audit/verify')).body).toMatchObject({ ok: true });
  }, 60_000);

  it("a node started with Redis out of reach decides nothing: it has not read the cluster's policy", async () => {
    const away = new RedisProxy(redis?.url);
    await away.start();
    const url = away.url(redis!.url);
    await away.cut();
    const c = await startNode({ prefix: redis!.prefix, config: CONFIG, files: FILES, redisUrl: url, id: 'node-c' });
    nodes.push(c);
    expect((await c.api('GET', '/readyz')).status).toBe(503);
    const decided = (await c.api('POST', '/v1/evaluate', { agent: 'reporter', action: 'report.send' })).body as { decision: string; rule: string; reason: string };
    expect(decided).toMatchObject({ decision: 'deny', rule: 'kernel.fail-closed' });
    expect(decided.reason).toMatch(/has not read the cluster's policy from Redis yet/);
  }, 60_000);
});

describe.skipIf(redis === undefined)('a node paused for less than the TTL', () => {
  let a: Node;
  let b: Node;
  beforeAll(async () => {
    const common = { redisUrl: redis!.url, prefix: `${redis!.prefix}.pause`, config: CONFIG, files: { 'policy.yaml': POLICY_2 }, heartbeatMs: 1000, ttlMs: 6000 };
    [a, b] = await Promise.all([startNode({ ...common, id: 'node-a' }), startNode({ ...common, id: 'node-b' })]);
  }, 60_000);
  afterAll(async () => {
    a.child.kill('SIGCONT');
    await Promise.all([a?.remove(), b?.remove()]);
  });

  /**
   * pausedAsking pauses node A just after a heartbeat of its reached Redis, for 5.4 s: past its lease (5 s after that
   * heartbeat was sent), short of its burial (6 s after Redis took it); sends it 16 calls while it is
   * paused (it reads them as it resumes, before its heartbeat timer has run, and, on a loaded machine, as its commands
   * in flight time out), and returns their answers.
   */
  async function pausedAsking(): Promise<Reply[]> {
    const admin = new Redis(redis!.url);
    const key = `{${redis!.prefix}.pause}:beats`;
    const last = await admin.zscore(key, 'node-a');
    await until(async () => (await admin.zscore(key, 'node-a')) !== last, 'a heartbeat of node A', 5000);
    a.child.kill('SIGSTOP');
    admin.disconnect();
    await new Promise((r) => setTimeout(r, 5200));
    const asking = Promise.all(Array.from({ length: 16 }, () => a.api('POST', '/v1/evaluate', { agent: 'reporter', action: 'report.send' })));
    await new Promise((r) => setTimeout(r, 200));
    a.child.kill('SIGCONT');
    return asking;
  }

  it('decides the calls that came meanwhile once it has made sure of Redis and beaten again: none fails', async () => {
    const answers = await pausedAsking();
    // Each decided by the policy: a call made past the lease was denied at once (EIO), and its agent ended with it.
    expect(new Set(answers.map((r) => `${r.status} ${r.body.decision} ${r.body.rule}`))).toEqual(new Set(['200 allow reports-allowed']));
    expect(((await b.api('GET', '/v1/cluster')).body.nodes as { node: string; state: string }[]).find((n) => n.node === 'node-a')?.state).toBe('alive');
  }, 40_000);
});
