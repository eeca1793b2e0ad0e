/**
 * A tree that takes V8's catastrophic path again and again (an attacker
 * pass): each such child quarantines the host it ran on, and past `count`
 * draining hosts the oldest was ended, its agents lost; so with one host, a
 * tree's second such child killed every neighbour of its first. Now the
 * tree spawns nothing (EAGAIN) for 30 s after the first (twice as long after
 * each further one): the neighbours run on, and the cost stays with the
 * tree. (A review: the wait had been "until the host quarantined for it has
 * drained", which may be never; test/hosts/culprit-backoff.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { MemoryDecisionLog } from '../../kernel/decision-log.ts';
import type { ExitRecord } from '../../kernel/process.ts';
import { programFromSource } from '../../kernel/program.ts';
import { capture, testKernel } from '../helpers.ts';
import { until } from '../until.ts';

const CATASTROPHIC = "const o = {}; let i = 0; while (true) o['k' + i++] = i;";
const TREE = `
  const first = sys.wait(sys.spawn('bad')).status;
  let second;
  try {
    second = sys.wait(sys.spawn('bad')).status;
  } catch (err) {
    second = err.errno + ': ' + err.message;
  }
  console.log(first);
  console.log(second);
`;

describe('a tree whose children take the catastrophic path', () => {
  it('spawns nothing for a while; the neighbours of the host quarantined for it run on', async () => {
    const log = new MemoryDecisionLog();
    const { kernel } = testKernel({ recorder: log, hosts: { count: 1, agentsPerHost: 16, spares: 1 }, programs: { bad: programFromSource('bad.js', CATASTROPHIC) } });
    try {
      const neighbours = await Promise.all([0, 1, 2].map((n) => kernel.spawnAsync(programFromSource(`n${n}.js`, 'await new Promise(() => {});'), { agentId: `neighbour-${n}` })));
      const ended: ExitRecord[] = [];
      const waits = neighbours.map((p) => kernel.wait(p.pid).then((exit) => (ended.push(exit), exit)));
      const out = capture();
      const tree = await kernel.spawnAsync(programFromSource('tree.js', TREE), { agentId: 'attacker', stdout: out.sink, stderr: out.sink });
      const exit = await kernel.wait(tree.pid);
      expect(exit, out.text).toMatchObject({ status: 0, reason: { kind: 'exit' } });
      const [first, second] = out.text.split('\n');
      expect(first).toBe('132');
      expect(second).toMatch(new RegExp(`^EAGAIN: a process of the tree of pid ${tree.pid} took V8's catastrophic out-of-memory path \\(1 time\\): the tree spawns nothing for another \\d+(\\.\\d)? s$`));
      expect(ended).toEqual([]);
      const events = log.list().flatMap((r) => (r.type === 'limit' && 'detail' in r ? [r.detail] : []));
      expect(events.filter((d) => /lost|killed/.test(d))).toEqual([]);
      expect(events.filter((d) => d.includes('quarantined'))).toEqual([expect.stringMatching(new RegExp(`^sandbox host 1 \\(pid \\d+\\) quarantined: .*; the tree of pid ${tree.pid} spawns nothing for 30 s \\(its 1st time\\)$`))]);
      for (const p of neighbours) kernel.kill(p.pid, 'SIGTERM');
      for (const n of await Promise.all(waits)) expect(n.reason).toMatchObject({ kind: 'signal', signal: 'SIGTERM' });
      await until(() => !(kernel.hosts?.info() ?? []).some((h) => h.id === 1), 'host 1 to drain and end');
      expect(log.list().some((r) => r.type === 'limit' && 'detail' in r && /^sandbox host 1 \(pid \d+\) drained and ended$/.test(r.detail))).toBe(true);
    } finally {
      await kernel.shutdown();
    }
  }, 120_000);
});
