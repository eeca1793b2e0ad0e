/**
 * agentctl tools: agentd's tools and the pins of upstream MCP tools
 * (operator only). `tools` lists them — a held tool (its description or
 * schema changed since it was pinned) says HELD and why; `tools approve NAME`
 * pins what the tool says now and offers it again.
 */
import { printable } from '../../kernel/terminal-text.ts';
import { columns, remote, type ConnectOptions } from './remote.ts';

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

export const list = (o: ConnectOptions) =>
  remote(o, async (c) => {
    const tools = await c.tools();
    if (o.json) return out(JSON.stringify(tools));
    const rows = [['NAME', 'SOURCE', 'RISK', 'PIN']];
    for (const t of tools) rows.push([t.name, t.source, t.risk, t.pin === undefined ? '-' : t.pin.state === 'held' ? 'HELD' : `pinned (${t.pin.by})`]);
    for (const line of columns(rows)) out(line);
    for (const t of tools) if (t.held !== undefined) process.stderr.write(`${printable(t.held)}\n`);
  });

export const approve = (o: ConnectOptions & { as?: string }, name: string) =>
  remote(o, async (c) => {
    const pin = await c.approveTool(name, o.as);
    out(o.json ? JSON.stringify(pin) : printable(`${pin.name}: approved by ${pin.by}, pinned ${pin.digest}; offered again`));
  });
