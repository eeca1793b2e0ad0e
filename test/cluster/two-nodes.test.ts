/**
 * Two agentd processes on loopback sharing one Redis behave as one kernel:
 * pids unique across nodes, `ps` through either node lists both, a signal
 * sent through one node reaches a process on the other, an approval asked on
 * one is granted through the other, and a policy replaced through one is in
 * force on the other within one second, every decision naming its version.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePolicy } from '../../kernel/policy/load.ts';
import { agentctl, clusterRedis, startNode, until, type Node } from './helpers.ts';
import { POLICY_1, POLICY_2 } from './policies.ts';

const redis = await clusterRedis('two-nodes');
const CONFIG = 'policy: policy.yaml\napprovals: { mode: operator }';

describe.skipIf(redis === undefined)('two agentd nodes on one Redis are one kernel', () => {
  let a: Node;
  let b: Node;

  beforeAll(async () => {
    const common = { redisUrl: redis!.url, prefix: redis!.prefix, config: CONFIG, files: { 'policy.yaml': POLICY_1 } };
    [a, b] = await Promise.all([startNode({ ...common, id: 'node-a' }), startNode({ ...common, id: 'node-b' })]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([a?.remove(), b?.remove()]);
    await redis?.cleanup();
  });

  it('both nodes are ready and see each other', async () => {
    for (const node of [a, b]) {
      expect((await node.api('GET', '/readyz')).status).toBe(200);
      const view = (await node.api('GET', '/v1/cluster')).body;
      expect(view).toMatchObject({ node: node.id, ready: true });
      expect(view.nodes.map((n: { node: string; alive: boolean }) => [n.node, n.alive])).toEqual([
        ['node-a', true],
        ['node-b', true],
      ]);
    }
    const nodes = await agentctl(b, 'nodes');
    expect(nodes.status).toBe(0);
    expect(nodes.stdout).toMatch(/node-a\s+alive/);
  });

  it('pids are unique across the cluster, and ps through either node lists every process with its node', async () => {
    const pids = await Promise.all([a.spawn(), b.spawn(), a.spawn(), b.spawn()]);
    expect(new Set(pids).size).toBe(4);
    for (const node of [a, b]) {
      const list = (await node.api('GET', '/v1/processes')).body as { pid: number; node: string; state: string }[];
      const mine = list.filter((p) => pids.includes(p.pid));
      expect(mine.map((p) => [p.pid, p.node])).toEqual(
        pids.map((pid, i) => [pid, i % 2 === 0 ? 'node-a' : 'node-b'] as const).toSorted((x, y) => x[0] - y[0]),
      );
      expect(mine.every((p) => p.state === 'blocked' || p.state === 'running')).toBe(true);
    }
    const ps = await agentctl(b, 'ps');
    expect(ps.status).toBe(0);
    expect(ps.stdout.split('\n')[0]).toMatch(/PID\s+PPID\s+AGENT\s+STATE.*NODE/);
    for (const pid of pids) expect(ps.stdout).toMatch(new RegExp(`^${pid}\\s.*node-[ab]\\s*$`, 'm'));
    const json = JSON.parse((await agentctl(a, 'ps', '--json')).stdout) as { pid: number; node: string }[];
    expect(json.find((p) => p.pid === pids[1])?.node).toBe('node-b');
    // One process, looked up through the other node.
    expect((await a.api('GET', `/v1/processes/${pids[1]}`)).body).toMatchObject({ pid: pids[1], node: 'node-b' });
  });

  it('a signal sent through node B reaches the process on node A', async () => {
    const pid = await a.spawn();
    expect((await b.api('POST', `/v1/processes/${pid}/signal`, { signal: 'SIGSTOP' })).body).toEqual({ outcome: 'stopped' });
    expect((await a.api('GET', `/v1/processes/${pid}`)).body.state).toBe('stopped');
    const cont = await agentctl(b, 'kill', '-CONT', String(pid));
    expect([cont.status, cont.stdout.trim()]).toEqual([0, `${pid}: SIGCONT continued`]);
    expect((await a.api('GET', `/v1/processes/${pid}`)).body.state).not.toBe('stopped');
    // A tree signal is relayed the same way (its tree lives on its root's node).
    expect((await b.api('POST', `/v1/processes/${pid}/signal`, { signal: 'SIGSTOP', tree: true })).body).toEqual({ outcome: 'stopped', tree: [{ pid, outcome: 'stopped' }] });
    expect((await b.api('POST', `/v1/processes/${pid}/signal`, { signal: 'SIGCONT', tree: true })).body).toEqual({ outcome: 'continued', tree: [{ pid, outcome: 'continued' }] });
    expect((await b.api('POST', `/v1/processes/${pid}/signal`, { signal: 'SIGKILL' })).body).toEqual({ outcome: 'terminated' });
    const ended = (await a.api('GET', `/v1/processes/${pid}`)).body;
    expect([ended.state, ended.status]).toEqual(['exited', 132]);
    // The owner recorded who sent it, through which node.
    const records = (await a.api('GET', `/v1/decisions?type=signal`)).body as { pid: number; detail: string }[];
    expect(records.find((r) => r.pid === pid)?.detail).toMatch(/SIGKILL.*operator@node-b/);
    // An exited or unknown pid is ESRCH through either node.
    const again = await b.api('POST', `/v1/processes/${pid}/signal`, { signal: 'SIGTERM' });
    expect([again.status, again.body.errno]).toEqual([404, 'ESRCH']);
    const unknown = await agentctl(b, 'kill', '-TERM', '999999');
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toMatch(/no process 999999/);
  });

  it('an approval asked on node A is granted through node B, and one is denied through B with a long poll there', async () => {
    const source = "sys.writeFile('mem/x', '1'); console.log('ready'); sys.unlink('mem/x'); console.log('unlinked');";
    const pid = await a.spawn(source);
    let id = '';
    await until(async () => {
      const list = (await b.api('GET', '/v1/approvals')).body as { id: string; pid: number; node: string }[];
      id = list.find((q) => q.pid === pid && q.node === 'node-a')?.id ?? '';
      return id !== '';
    }, 'the question from node A to show on node B');
    const approve = await agentctl(b, 'approve', id, '--reason', 'fine by bob');
    expect([approve.status, approve.stdout.trim(), approve.stderr]).toEqual([0, `${id}: approved by operator`, '']);
    await until(async () => (await a.api('GET', `/v1/processes/${pid}/output`)).body.stdout.includes('unlinked'), 'the agent on node A to go on');
    const records = (await a.api('GET', '/v1/decisions?type=approval')).body as { pid: number; detail: string }[];
    expect(records.find((r) => r.pid === pid)?.detail).toMatch(/granted SYS_UNLINK .* by operator: fine by bob \(answered through node node-b\)/);
    expect((await b.api('GET', `/v1/approvals/${id}`)).body).toMatchObject({ status: 'approved', answer: { approver: 'operator' } });

    // An external agent asks node A; node B waits on the answer while an operator denies it through B.
    const asked = (await a.api('POST', '/v1/evaluate', { agent: 'payer', action: 'payment.send' })).body;
    expect(asked).toMatchObject({ decision: 'require_approval', rule: 'payments-need-approval' });
    const waiting = b.api('GET', `/v1/approvals/${asked.approval_id}?wait=10000`);
    await until(async () => ((await b.api('GET', '/v1/approvals')).body as { id: string }[]).some((q) => q.id === asked.approval_id), 'the question on B');
    // The agent that asked cannot answer its own question, through any node: its credential may not answer.
    const payer = (await b.api('POST', '/v1/principals', { agent: 'payer' })).body.token as string;
    const self = await fetch(`${b.url}/v1/approvals/${asked.approval_id}/approve`, { method: 'POST', headers: { authorization: `Bearer ${payer}`, 'content-type': 'application/json' }, body: '{}' });
    expect([self.status, ((await self.json()) as { errno: string }).errno]).toEqual([403, 'EACCES']);
    expect((await b.api('POST', `/v1/approvals/${asked.approval_id}/deny`, { reason: 'no' })).status).toBe(200);
    expect((await waiting).body).toMatchObject({ status: 'denied', answer: { approved: false } });
    expect((await a.api('GET', `/v1/approvals/${asked.approval_id}`)).body.status).toBe('denied');
    expect(((await a.api('GET', '/v1/approvals')).body as { id: string }[]).some((q) => q.id === asked.approval_id)).toBe(false);
  });

  it('a shadow policy set through node A shadows node B’s decisions too (changing none); cleared through B, it is gone on A', async () => {
    const shadowVersion = parsePolicy(POLICY_2, 'p2.yaml').version;
    expect((await a.api('PUT', '/v1/policy/shadow', { source: POLICY_2, filename: 'p2.yaml' })).body).toMatchObject({ ok: true, version: shadowVersion });
    await until(async () => (await b.api('GET', '/v1/policy/shadow')).body.version === shadowVersion, 'node B to take the shadow');
    expect((await b.api('POST', '/v1/evaluate', { agent: 'reporter', action: 'report.send' })).body).toMatchObject({ decision: 'deny' });
    const diff = (await b.api('GET', '/v1/policy/shadow/diff')).body as { disagreements: number; groups: { direction: string; shadowRule: string }[] };
    expect(diff).toMatchObject({ disagreements: 1, groups: [{ direction: 'deny->allow', shadowRule: 'reports-allowed' }] });
    expect(((await b.api('GET', '/v1/decisions?type=shadow')).body as { detail: string }[]).at(-1)?.detail).toMatch(/would allow report\.send by rule reports-allowed/);
    expect(((await b.api('GET', '/v1/decisions?type=policy')).body as { detail: string }[]).at(-1)?.detail).toMatch(new RegExp(`^shadow policy set through node node-a .*: ${shadowVersion}$`));
    expect((await b.api('DELETE', '/v1/policy/shadow')).status).toBe(200);
    await until(async () => (await a.api('GET', '/v1/policy/shadow')).status === 404, 'node A to drop the shadow');
  });

  it('a policy replaced through node A is in force on node B, and decisions name its version', async () => {
    const v1 = parsePolicy(POLICY_1, 'p1.yaml').version;
    const v2 = parsePolicy(POLICY_2, 'p2.yaml').version;
    const before = (await b.api('POST', '/v1/evaluate', { agent: 'reporter', action: 'report.send' })).body;
    expect(before).toMatchObject({ decision: 'deny', policy_version: v1 });
    // How fast it travels is a bench figure (cross-node latency), not something a test under load can assert.
    const put = await a.api('PUT', '/v1/policy', { source: POLICY_2, filename: 'p2.yaml' });
    expect(put.body).toMatchObject({ ok: true, version: v2, previous: v1 });
    await until(async () => (await b.api('GET', '/v1/policy')).body.version === v2, 'node B to install the new policy');
    const after = (await b.api('POST', '/v1/evaluate', { agent: 'reporter', action: 'report.send' })).body;
    expect(after).toMatchObject({ decision: 'allow', rule: 'reports-allowed', policy_version: v2 });
    // Node B recorded where the policy came from; a bad policy through B changes nothing anywhere.
    const records = (await b.api('GET', '/v1/decisions?type=policy')).body as { detail: string }[];
    expect(records.at(-1)?.detail).toMatch(new RegExp(`through node node-a .*-> ${v2}`));
    const bad = await b.api('PUT', '/v1/policy', { source: 'rules: [', filename: 'bad.yaml' });
    expect(bad.status).toBe(400);
    // Refused before anything is published (the 400 comes after validation, before Redis): nothing is on its way to wait for.
    for (const node of [a, b]) expect((await node.api('GET', '/v1/policy')).body.version).toBe(v2);
    expect((await a.api('GET', '/v1/cluster')).body.policyEpoch).toBe((await b.api('GET', '/v1/cluster')).body.policyEpoch);
  });
});
