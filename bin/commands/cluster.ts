/** `agentctl nodes`: the cluster as the node agentctl talks to sees it (Redis health, every node: alive, silent or dead, and when it was last seen). */
import { styleText } from 'node:util';
import type { NodeState } from '../../kernel/cluster/directory.ts';
import { printable } from '../../kernel/terminal-text.ts';
import { remote, type ConnectOptions } from './remote.ts';

const paint = (color: Parameters<typeof styleText>[0], text: string) => styleText(color, text, { stream: process.stdout });

const STATE_COLOR: Record<NodeState, Parameters<typeof styleText>[0]> = { alive: 'green', silent: 'yellow', dead: 'red' };

/** ago says how long ago, in the unit that reads best. */
function ago(ms: number): string {
  if (ms < 10_000) return `${ms} ms ago`;
  if (ms < 120_000) return `${Math.round(ms / 1000)} s ago`;
  if (ms < 2 * 3_600_000) return `${Math.round(ms / 60_000)} min ago`;
  return `${Math.round(ms / 3_600_000)} h ago`;
}

export const nodes = (o: ConnectOptions) =>
  remote(o, async (c) => {
    const view = await c.cluster();
    if (o.json) return void process.stdout.write(`${JSON.stringify(view)}\n`);
    // Node names, hosts, URLs and Redis's problem are the cluster's data: escaped (terminal-text.ts).
    const health = view.ready ? paint('green', 'ready') : paint('red', `NOT READY: ${printable(view.problem ?? '?')}`);
    process.stdout.write(`${printable(`node ${view.node} (${view.redis}, policy epoch ${view.policyEpoch})`)}: ${health}\n`);
    const rows = [['NODE', 'STATE', 'LAST SEEN', 'HOST', 'PID', 'URL']];
    for (const n of view.nodes) rows.push([n.node, n.state, ago(n.silentMs), n.host, String(n.pid), n.url].map(printable));
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    for (const [i, r] of rows.entries()) {
      const cells = r.map((cell, j) => cell.padEnd(widths[j]!));
      const state = view.nodes[i - 1]?.state;
      if (state !== undefined) cells[1] = paint(STATE_COLOR[state], cells[1]!);
      process.stdout.write(`${cells.join('  ').trimEnd()}\n`);
    }
  });
