/** `agentctl nodes`: the cluster as the node agentctl talks to sees it (Redis health, every node, alive or silent). */
import { styleText } from 'node:util';
import { remote, type ConnectOptions } from './remote.ts';

const paint = (color: Parameters<typeof styleText>[0], text: string) => styleText(color, text, { stream: process.stdout });

export const nodes = (o: ConnectOptions) =>
  remote(o, async (c) => {
    const view = await c.cluster();
    if (o.json) return void process.stdout.write(`${JSON.stringify(view)}\n`);
    const health = view.ready ? paint('green', 'ready') : paint('red', `NOT READY: ${view.problem ?? '?'}`);
    process.stdout.write(`node ${view.node} (${view.redis}, policy epoch ${view.policyEpoch}): ${health}\n`);
    const rows = [['NODE', 'STATE', 'SILENT', 'HOST', 'PID', 'URL']];
    for (const n of view.nodes) rows.push([n.node, n.alive ? 'alive' : 'silent', `${n.silentMs} ms`, n.host, String(n.pid), n.url]);
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    for (const r of rows) process.stdout.write(`${r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()}\n`);
  });
