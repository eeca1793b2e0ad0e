/**
 * Rule limits shared by the cluster (kernel/cluster/shared-limits.ts): an
 * agent's max_calls, rate and token_budget are counted once in Redis for
 * every node, so running on (or asking through) two nodes does not double
 * them. Kernels here are real (agents in isolates, real Redis); the last
 * test runs two agentd processes and asks /v1/evaluate over HTTP. With
 * Redis out of reach a limited call is denied (EIO), never let through.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisHealth } from '../../kernel/cluster/health.ts';
import { ClusterKeys } from '../../kernel/cluster/redis.ts';
import { ClusterLimits } from '../../kernel/cluster/shared-limits.ts';
import type { MemoryDecisionLog } from '../../kernel/decision-log.ts';
import { Kernel } from '../../kernel/kernel.ts';
import { parsePolicy } from '../../kernel/policy/load.ts';
import { programFromSource } from '../../kernel/program.ts';
import { RedisProxy, redisForTests, type RedisTestEnv } from '../redis.ts';
import { clusterRedis, startNode, until, type Node } from './helpers.ts';

const env = await redisForTests('shared-limits');

const POLICY = `version: 1
rules:
  - id: clock-budget
    effect: allow
    syscalls: [SYS_EXEC]
    tools: [time.now]
    limits: { max_calls: 4 }
  - id: list-rate
    effect: allow
    syscalls: [SYS_EXEC]
    tools: [tools.list]
    limits: { rate: { count: 3, per: hour } }
  - id: chat-budget
    effect: allow
    syscalls: [report.send]
    limits: { token_budget: 100 }
  - { id: the-rest, effect: allow }
`;

/** CALLS runs `n` clock calls and prints what each came to. */
const calls = (tool: string, n: number) => `const r = []; for (let i = 0; i < ${n}; i++) { try { sys.exec(${JSON.stringify(tool)}, {}); r.push('ok'); } catch (e) { r.push(e.errno); } } console.log(r.join(' '));`;

/** run runs `source` as `agentId` on `kernel` and answers what it printed. */
async function run(kernel: Kernel, agentId: string, source: string): Promise<string> {
  let out = '';
  let err = '';
  const proc = kernel.spawn(programFromSource('counted.js', source), { agentId, manifest: { capabilities: ['tool:time.now', 'tool:tools.list'] }, stdout: (c) => void (out += new TextDecoder().decode(c)), stderr: (c) => void (err += new TextDecoder().decode(c)) });
  expect([(await kernel.wait(proc.pid)).status, err]).toEqual([0, '']);
  return out.trim();
}

describe.skipIf(env === undefined)('rule limits shared by the cluster', () => {
  const healths: RedisHealth[] = [];
  const kernels: Kernel[] = [];
  let redis: RedisTestEnv;

  beforeAll(() => {
    redis = env!;
  });

  afterAll(async () => {
    await Promise.all(kernels.map((k) => k.shutdown()));
    for (const h of healths) h.close();
    await redis.cleanup();
  });

  /** node makes one cluster node's limits on `url` (each its own connection, as two agentd would have). */
  const node = async (url = redis.url, prefix = redis.prefix) => {
    const client = await redis.client(url, 500);
    const health = new RedisHealth([client], url, 100);
    healths.push(health);
    await until(async () => health.ready, 'the node to reach Redis');
    return new ClusterLimits(client, new ClusterKeys(prefix), health);
  };

  const kernelOn = (limits: ClusterLimits) => {
    const kernel = new Kernel({ policy: parsePolicy(POLICY, 'limits.yaml'), sharedLimits: limits, stdout: () => {}, stderr: () => {} });
    kernels.push(kernel);
    return kernel;
  };


  it('an agent running on two kernels gets max_calls once, not once per node; another agent has its own', async () => {
    const [a, b] = [kernelOn(await node()), kernelOn(await node())];
    expect(await run(a, 'twice', calls('time.now', 3))).toBe('ok ok ok');
    expect(await run(b, 'twice', calls('time.now', 3))).toBe('ok EACCES EACCES');
    expect(await run(a, 'twice', calls('time.now', 1))).toBe('EACCES');
    expect(await run(b, 'other', calls('time.now', 2))).toBe('ok ok');
    const denied = (b.recorder as MemoryDecisionLog).list().filter((r) => r.type === 'syscall' && r.agentId === 'twice' && r.effect === 'deny');
    expect(denied.map((r) => (r.type === 'syscall' ? `${r.rule}: ${r.reason}` : ''))).toEqual(['clock-budget: limit: max_calls 4 reached', 'clock-budget: limit: max_calls 4 reached']);
  });

  it('a rate holds across nodes, and concurrent calls from many nodes never take more than the budget', async () => {
    const [a, b] = [kernelOn(await node()), kernelOn(await node())];
    expect(await run(a, 'rated', calls('tools.list', 2))).toBe('ok ok');
    expect(await run(b, 'rated', calls('tools.list', 2))).toBe('ok EACCES');
    // Twenty takes at once from four nodes: exactly four get through (the check and the count are one script).
    const nodes = await Promise.all([node(), node(), node(), node()]);
    const rule = { id: 'race', limits: { max_calls: 4 } };
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => nodes[i % 4]!.take('racer', [rule])));
    expect(answers.filter((x) => x === undefined)).toHaveLength(4);
    expect(answers.filter((x) => x !== undefined)[0]).toEqual({ rule: 'race', why: 'max_calls 4 reached' });
  });

  it('tokens used through one node count against the budget on another', async () => {
    const [a, b] = [await node(), await node()];
    const rule = { id: 'chat-budget', limits: { token_budget: 100 } };
    expect(await a.take('talker', [rule])).toBeUndefined();
    b.addTokens('talker', 60);
    b.addTokens('talker', 60);
    await until(async () => (await a.take('talker', [rule])) !== undefined, 'the tokens of node B to count on node A');
    expect(await a.take('talker', [rule])).toEqual({ rule: 'chat-budget', why: 'token budget 100 used up' });
  });

  it('with Redis out of reach a limited call is denied (EIO, rule kernel.shared-limits) and recorded so; calls without limits still run', async () => {
    const proxy = new RedisProxy(redis.url);
    await proxy.start();
    const limits = await node(proxy.url(redis.url));
    const kernel = kernelOn(limits);
    expect(await run(kernel, 'cut-off', calls('time.now', 1))).toBe('ok');
    await proxy.cut();
    await until(async () => !healths.at(-1)!.ready, 'the node to notice Redis is gone');
    expect(await run(kernel, 'cut-off', `${calls('time.now', 2)} sys.writeFile('mem/still.txt', 'yes'); console.log(sys.readFile('mem/still.txt'));`)).toBe('EIO EIO\nyes');
    const records = (kernel.recorder as MemoryDecisionLog).list().filter((r) => r.type === 'syscall' && r.agentId === 'cut-off' && r.effect === 'deny');
    expect(records).toHaveLength(2);
    expect(records[0]).toMatchObject({ rule: 'kernel.shared-limits' });
    expect(records[0]!.type === 'syscall' && records[0]!.reason).toMatch(/counted by the cluster and cannot be read now .*denied \(fail closed\)/);
  });
});

const shared = await clusterRedis('shared-limits');

const pay = async (through: Node) => (await through.api('POST', '/v1/evaluate', { agent: 'payer', action: 'payment.send' })).body as { decision: string; reason: string };

describe.skipIf(shared === undefined)('two agentd nodes count one budget', () => {
  let a: Node;
  let b: Node;

  beforeAll(async () => {
    const common = { redisUrl: shared!.url, prefix: shared!.prefix, config: 'policy: policy.yaml\napprovals: { mode: deny }', files: { 'policy.yaml': `${POLICY}  - { id: payments, effect: allow, syscalls: [payment.send], limits: { max_calls: 3 } }\n` } };
    [a, b] = await Promise.all([startNode({ ...common, id: 'node-a' }), startNode({ ...common, id: 'node-b' })]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([a?.remove(), b?.remove()]);
    await shared?.cleanup();
  });

  it('/v1/evaluate through either node: the third payment is the last, whichever node is asked', async () => {
    const answers = [];
    for (const through of [a, b, a, b, a]) answers.push(await pay(through));
    expect(answers.map((x) => x.decision)).toEqual(['allow', 'allow', 'allow', 'deny', 'deny']);
    expect(answers[3]!.reason).toBe('limit: max_calls 3 reached');
  });
});
