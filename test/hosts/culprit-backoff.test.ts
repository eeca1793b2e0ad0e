/**
 * A tree one of whose processes took V8's catastrophic path waits in time,
 * not until the host quarantined for it has drained (a review of the
 * catastrophic churn's fix): that host drains only when all its agents have
 * ended, which may be never (an idle agent of the tree, or of another tree,
 * lives there), so the tree could spawn nothing for good. Now it spawns
 * nothing for a back-off (30 s by default; shortened here), doubled by each
 * further catastrophic event, and the records say how long.
 */
import { describe, expect, it } from 'vitest';
import { MemoryDecisionLog } from '../../kernel/decision-log.ts';
import type { KernelOptions } from '../../kernel/kernel-options.ts';
import { programFromSource } from '../../kernel/program.ts';
import { capture, testKernel } from '../helpers.ts';

const CATASTROPHIC = "const o = {}; let i = 0; while (true) o['k' + i++] = i;";
/** Two such children, the second as soon as the tree may spawn again (it gives up after ~20 s). */
const TREE = `
  const first = sys.wait(sys.spawn('bad')).status;
  let refused = 0, second;
  for (;;) {
    try {
      second = sys.wait(sys.spawn('bad')).status;
      break;
    } catch (err) {
      if (err.errno !== 'EAGAIN') throw err;
      if (++refused > 400) throw new Error('still refused: ' + err.message);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  console.log(first, second);
`;

describe('a tree whose process took the catastrophic path', () => {
  it('spawns again after its back-off though the host quarantined for it has not drained; the next back-off is twice as long', async () => {
    const log = new MemoryDecisionLog();
    const hosts: NonNullable<KernelOptions['hosts']> = { count: 2, agentsPerHost: 16, spares: 1, culpritBackoffMs: 1000 };
    const { kernel } = testKernel({ recorder: log, hosts, programs: { bad: programFromSource('bad.js', CATASTROPHIC) } });
    try {
      // An idle neighbour on each host: no host it quarantines can drain.
      const neighbours = await Promise.all([0, 1].map((n) => kernel.spawnAsync(programFromSource(`n${n}.js`, 'await new Promise(() => {});'), { agentId: `neighbour-${n}` })));
      const out = capture();
      const tree = await kernel.spawnAsync(programFromSource('tree.js', TREE), { agentId: 'attacker', stdout: out.sink, stderr: out.sink });
      const exit = await kernel.wait(tree.pid);
      expect(exit, out.text).toMatchObject({ status: 0, reason: { kind: 'exit' } });
      expect(out.text).toBe('132 132\n');
      const events = log.list().flatMap((r) => (r.type === 'limit' && 'detail' in r ? [r.detail] : []));
      expect(events.filter((d) => /lost|killed/.test(d))).toEqual([]);
      const waits = events.flatMap((d) => /; the tree of pid (\d+) spawns nothing for ([\d.]+) s \(its (\w+) time\)$/.exec(d)?.slice(1) ?? []);
      expect(waits).toEqual([String(tree.pid), '1', '1st', String(tree.pid), '2', '2nd']);
      // The neighbours ran on through both quarantines.
      for (const p of neighbours) kernel.kill(p.pid, 'SIGTERM');
      for (const p of neighbours) expect((await kernel.wait(p.pid)).reason).toMatchObject({ kind: 'signal', signal: 'SIGTERM' });
    } finally {
      await kernel.shutdown();
    }
  }, 120_000);
});
