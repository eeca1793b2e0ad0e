/**
 * agentctl principal: create, list and revoke agent credentials on agentd
 * (operator only). A credential is a token bound to one agent id with the
 * labels and capabilities given at creation; agentd shows the token once and
 * keeps only its SHA-256.
 */
import type { PrincipalInfo } from '../../kernel/service/principals.ts';
import { printable } from '../../kernel/terminal-text.ts';
import { columns, remote, type ConnectOptions } from './remote.ts';
import { ArgumentError } from './whole-number.ts';

export interface CreateOptions extends ConnectOptions {
  agent: string;
  name?: string;
  label: string[];
  capability: string[];
  tokenOnly?: boolean;
}

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** parseLabels turns `k=v` options into labels. Error for one without `=` or with an empty key, or a key given twice. */
export function parseLabels(options: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const option of options) {
    const eq = option.indexOf('=');
    if (eq <= 0) throw new ArgumentError(`--label ${option}: write it as key=value`);
    const key = option.slice(0, eq);
    if (Object.hasOwn(labels, key)) throw new ArgumentError(`--label ${key} is given twice`);
    labels[key] = option.slice(eq + 1);
  }
  return labels;
}

function granted(p: PrincipalInfo): { labels: string; capabilities: string } {
  return {
    labels: Object.entries(p.labels).map(([k, v]) => `${k}=${v}`).join(',') || '-',
    capabilities: p.capabilities.join(',') || '-',
  };
}

export const create = (o: CreateOptions) =>
  remote(o, async (c) => {
    const labels = parseLabels(o.label);
    const p = await c.createPrincipal({ agent: o.agent, ...(o.name !== undefined ? { name: o.name } : {}), labels, capabilities: o.capability });
    if (o.tokenOnly) return out(p.token);
    if (o.json) return out(JSON.stringify(p));
    const g = granted(p);
    out(printable(`principal ${p.name}: agent ${p.agent}, labels ${g.labels}, capabilities ${g.capabilities}`));
    out(`token (shown once; agentd keeps only its hash): ${p.token}`);
  });

export const list = (o: ConnectOptions) =>
  remote(o, async (c) => {
    const principals = await c.principals();
    if (o.json) return out(JSON.stringify(principals));
    if (principals.length === 0) return out('no agent credentials (agentctl principal create --agent ID)');
    const rows = [['NAME', 'AGENT', 'LABELS', 'CAPABILITIES', 'CREATED']];
    for (const p of principals) {
      const g = granted(p);
      rows.push([p.name, p.agent, g.labels, g.capabilities, new Date(p.createdAt).toISOString()]);
    }
    for (const line of columns(rows)) out(line);
  });

export const revoke = (o: ConnectOptions, name: string) =>
  remote(o, async (c) => {
    const p = await c.revokePrincipal(name);
    out(o.json ? JSON.stringify(p) : printable(`revoked principal ${p.name} (agent ${p.agent}): its token is refused from now on`));
  });
