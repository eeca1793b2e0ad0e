/**
 * The fleet kill switch on two real nodes sharing a Redis: `agentctl freeze
 * --selector`, `thaw`, and `kill -KILL --selector` through one node reach
 * every live process whose labels match, on both nodes, and no other; one
 * operator record names the selector and the pids; a selector that matches
 * nothing exits 1, as pkill does; --all reaches every live process; labels
 * show in ps.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChainRecord } from '../../kernel/recorder/chain.ts';
import { agentctl } from '../governance/helpers.ts';
import { clusterRedis, IDLE, startNode, until, type Node } from './helpers.ts';

const redis = await clusterRedis('fleet-signals');

/** via runs agentctl against `node`. */
const via = (node: Node, ...args: string[]) => agentctl([...args, '--state-dir', node.stateDir]);
afterAll(() => redis?.cleanup());

describe.skipIf(redis === undefined)('agentctl kill, freeze and thaw by selector across two nodes', () => {
  let a: Node;
  let b: Node;
  /** pid → [node, team] */
  const agents = new Map<number, [Node, string]>();

  const spawn = async (node: Node, team: string): Promise<number> => {
    const res = await node.api('POST', '/v1/processes', { source: IDLE, filename: 'idle.js', manifest: { id: `${team}-${node.id}`, labels: { team } } });
    expect(res.status).toBe(201);
    const pid = (res.body as { pid: number }).pid;
    agents.set(pid, [node, team]);
    return pid;
  };
  const stateOf = async (pid: number): Promise<string> => ((await a.api('GET', `/v1/processes/${pid}`)).body as { state: string }).state;

  beforeAll(async () => {
    const common = { redisUrl: redis!.url, prefix: redis!.prefix };
    [a, b] = await Promise.all([startNode({ ...common, id: 'node-a' }), startNode({ ...common, id: 'node-b' })]);
    for (const node of [a, b]) for (const team of ['finance', 'ops']) await spawn(node, team);
    await until(async () => ((await b.api('GET', '/v1/processes')).body as unknown[]).length === 4, 'both nodes to list all four agents');
  }, 60_000);
  afterAll(async () => {
    await Promise.all([a?.remove(), b?.remove()]);
  });

  it('ps shows each agent with its labels', async () => {
    const list = (await a.api('GET', '/v1/processes')).body as { pid: number; labels?: Record<string, string> }[];
    for (const [pid, [, team]] of agents) expect(list.find((p) => p.pid === pid)?.labels).toEqual({ team });
  });

  it('freeze stops every finance agent on both nodes and no other; thaw resumes them', async () => {
    const finance = [...agents].filter(([, [, team]]) => team === 'finance').map(([pid]) => pid);
    const frozen = await via(b, 'freeze', '--selector', 'team=finance');
    expect(frozen.status).toBe(0);
    expect(frozen.stdout.trim().split('\n').toSorted()).toEqual(finance.map((pid) => `${pid} (finance-${agents.get(pid)![0].id}${agents.get(pid)![0] === a ? ' on node-a' : ' on node-b'}): SIGSTOP stopped`).toSorted());
    for (const [pid, [, team]] of agents) await until(async () => (await stateOf(pid)) === (team === 'finance' ? 'stopped' : 'blocked'), `pid ${pid} (${team}) to be ${team === 'finance' ? 'stopped' : 'left alone'}`);
    expect((await via(a, 'thaw', '--selector', 'team=finance')).status).toBe(0);
    for (const pid of finance) await until(async () => (await stateOf(pid)) !== 'stopped', `pid ${pid} to run again`);
  });

  it('kill -KILL --selector ends every finance agent on both nodes, the ops agents run on, and one record names the act', async () => {
    const killed = await via(a, 'kill', '-KILL', '--selector', 'team=finance', '--json');
    expect(killed.status).toBe(0);
    const answer = JSON.parse(killed.stdout) as { signal: string; selector: string; matched: number; results: { pid: number; outcome?: string }[] };
    expect(answer).toMatchObject({ signal: 'SIGKILL', selector: 'team=finance', matched: 2 });
    for (const [pid, [, team]] of agents) {
      if (team === 'finance') await until(async () => ['exited', 'lost'].includes(await stateOf(pid)) || (await a.api('GET', `/v1/processes/${pid}`)).status === 404, `finance pid ${pid} to end`);
      else expect(await stateOf(pid)).toBe('blocked');
    }
    const records = readFileSync(`${a.stateDir}/decisions.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as ChainRecord);
    const act = records.filter((r) => r.type === 'signal' && r.agent === 'agentd' && r.detail?.includes('SIGKILL'));
    expect(act).toHaveLength(1);
    expect(act[0]!.detail).toMatch(/^operator \(selector team=finance\): SIGKILL to 2 processes: \d+, \d+$/);
  });

  it('a selector that matches no live process exits 1 and says so; a malformed one is refused', async () => {
    const none = await via(a, 'kill', '-TERM', '--selector', 'team=finance');
    expect(none).toMatchObject({ status: 1, stderr: 'agentctl: no live process matches team=finance\n' });
    const bad = await via(a, 'freeze', '--selector', 'team');
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/--selector takes label=value pairs/);
    for (const [pid, [, team]] of agents) if (team === 'ops') expect(await stateOf(pid)).toBe('blocked');
    // --all: every live process of the cluster (the two ops agents now).
    const all = JSON.parse((await via(b, 'freeze', '--all', '--json')).stdout) as { selector: string; matched: number };
    expect(all).toMatchObject({ selector: 'all', matched: 2 });
    expect((await via(b, 'thaw', '--all')).status).toBe(0);
  });
});
