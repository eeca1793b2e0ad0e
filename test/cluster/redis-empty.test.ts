/**
 * Redis restarted empty under a node whose effects wait for its decision
 * stream (`log.stream: before-action`), with a redis-server of this test's
 * own. The node used to refuse its stream for good ("the stream ends at 0,
 * this node continues at N"): every effect failed until agentd was
 * restarted, while /readyz said 200. Now the node notices, goes on with its
 * chain in a new stream from where it was, records that Redis lost the
 * earlier records (in its file log, which holds them all, and so in the
 * stream), is ready, and its agents' effects run again; `agentctl audit
 * verify --redis` fails, naming the records Redis lost, because the stream
 * alone no longer proves them; the file log verifies. The pid counter Redis
 * lost is raised past the node's pids (after a fence: kernel/cluster/pids.ts).
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChainRecord } from '../../kernel/recorder/chain.ts';
import { agentctl as ctl } from '../governance/helpers.ts';
import { RedisServer, startNode, until, type Node } from './helpers.ts';

/** Writes a file on each SIGUSR1 and says whether the write went through. */
const WRITER = `let n = 0;
sys.signal.on('SIGUSR1', () => { n++; try { sys.writeFile('mem/working/n', String(n)); console.log('wrote ' + n); } catch (e) { console.log('refused ' + n + ' ' + e.code); } });
console.log('ready');
await new Promise(() => {});`;

const POLICY = 'version: 1\nrules:\n  - { id: all, effect: allow }\n';
const available = RedisServer.available('redis-empty');

describe.skipIf(!available)('Redis restarted empty under a before-action node', () => {
  let server: RedisServer;
  let node: Node;
  let pid: number;
  const prefix = `empty-${randomUUID().slice(0, 8)}`;

  /** poke sends SIGUSR1 and waits for the agent's answer to the n-th one. */
  const poke = async (n: number): Promise<string> => {
    await node.api('POST', `/v1/processes/${pid}/signal`, { signal: 'SIGUSR1' });
    let line = '';
    await until(async () => {
      const out = (await node.api('GET', `/v1/processes/${pid}/output`)).body.stdout as string;
      line = out.split('\n').find((l) => l.startsWith(`wrote ${n}`) || l.startsWith(`refused ${n} `)) ?? '';
      return line !== '';
    }, `the agent's answer to poke ${n}`);
    return line;
  };

  beforeAll(async () => {
    server = await RedisServer.start();
    node = await startNode({ redisUrl: server.url, prefix, id: 'node-a', config: 'policy: policy.yaml\nlog: { stream: before-action }', files: { 'policy.yaml': POLICY } });
    pid = await node.spawn(WRITER, true);
  }, 60_000);

  afterAll(async () => {
    await node?.remove();
    server?.remove();
  });

  it('goes on in a new stream, records what Redis lost, is ready, and its effects run again', async () => {
    for (let n = 1; n <= 3; n++) expect(await poke(n)).toBe(`wrote ${n}`);
    server.down();
    await server.upEmpty();
    await until(async () => (await node.api('GET', '/readyz')).status === 200, 'the node to be ready again', 20_000);
    // The next effect waits for a stream Redis no longer has: the chain goes on in a new one and the write runs.
    let n = 4;
    for (; (await poke(n)) !== `wrote ${n}`; n++) expect(n).toBeLessThan(40);
    expect(await poke(n + 1)).toBe(`wrote ${n + 1}`);
    // Redis lost the pid counter: the node raised it past its own pids, so a new process does not get the running one's pid.
    const next = await node.spawn(undefined, false);
    expect(next).toBeGreaterThan(pid);

    const records = readFileSync(`${node.stateDir}/decisions.jsonl`, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as ChainRecord);
    // (The log's own anchors, signed heads every anchor_ms, are 'log' records too: not what this looks for.)
    const loss = records.filter((r) => r.type === 'log' && !r.detail?.startsWith('anchor '));
    expect(loss).toHaveLength(1);
    expect(loss[0]!.detail).toMatch(new RegExp(`^decision stream ${prefix}:decisions:node-a was gone when Redis answered again: Redis lost its records 1–(\\d+); the stream goes on from (\\d+) \\(this file log holds them all\\)$`));
    expect((await node.api('POST', '/v1/audit/verify')).body).toMatchObject({ ok: true });
    expect((await node.api('GET', '/readyz')).status).toBe(200);

    // The stream holds the loss record too, and verify says what the stream can no longer prove.
    await until(async () => (await ctl(['audit', 'verify', '--redis', server.url, '--prefix', prefix, '--json'])).stdout.includes('"gaps"'), 'the stream to be listed again');
    const verify = await ctl(['audit', 'verify', '--redis', server.url, '--prefix', prefix]);
    expect(verify.status).toBe(1);
    expect(verify.stdout).toMatch(/^node-a: FAIL.*missing.*1–\d+/m);
  }, 90_000);
});
