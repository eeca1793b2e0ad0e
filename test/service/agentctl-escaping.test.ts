/**
 * Every table cell and line agentctl prints from agentd's data is escaped
 * (kernel/terminal-text.ts), as `logs`, `approvals` and ps's AGENT and
 * PROGRAM were: a credential's label with an ESC in it printed the escape
 * sequence to the operator's terminal from `principal ls`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ListedProcess } from '../../kernel/service/client.ts';
import { columns, formatPs } from '../../bin/commands/remote.ts';
import { agentctl, startAgentd, type Agentd } from './helpers.ts';

// oxlint-disable-next-line no-control-regex -- what these tests look for is raw control characters
const RAW_CONTROL = /[\x00-\x09\x0b-\x1f\u202e]/;

let agentd: Agentd;
beforeAll(async () => {
  agentd = await startAgentd();
}, 60_000);
afterAll(async () => {
  await agentd?.remove();
});

const HOSTILE = '\x1b[31m\x1b]0;owned\x07\u202e';
const SHOWN = '\\x1b[31m\\x1b]0;owned\\x07\\u{202e}';

describe('agentctl escapes what agentd tells it', { timeout: 60_000 }, () => {
  it('principal create and principal ls print a label with control characters escaped', async () => {
    const created = await agentctl(agentd, 'principal', 'create', '--agent', 'ok1', '--label', `k=${HOSTILE}`);
    expect(created.status).toBe(0);
    expect(created.stdout).not.toMatch(RAW_CONTROL);
    expect(created.stdout).toContain(`labels k=${SHOWN},`);
    const listed = await agentctl(agentd, 'principal', 'ls');
    expect(listed).toMatchObject({ status: 0, stderr: '' });
    expect(listed.stdout).not.toMatch(RAW_CONTROL);
    const row = listed.stdout.split('\n').find((l) => l.startsWith('ok1 '));
    expect(row).toMatch(new RegExp(`^ok1\\s+ok1\\s+k=${SHOWN.replace(/[\\[\]{}().]/g, '\\$&')}\\s+-\\s+\\d{4}-`));
    // --json is left alone: JSON escapes what it must itself.
    expect(JSON.parse((await agentctl(agentd, 'principal', 'ls', '--json')).stdout)).toEqual([expect.objectContaining({ labels: { k: HOSTILE } })]);
  });

  it('ps escapes every cell: a node name, a pending signal, a breaker, the program', () => {
    const row: ListedProcess = { pid: 7, ppid: 0, agentId: `a${HOSTILE}`, state: 'running', program: `p${HOSTILE}.js`, syscalls: 1, openFds: 3, startedAt: 0, pendingSignals: [`SIG${HOSTILE}`], breakers: [`t${HOSTILE}`], node: `n${HOSTILE}` };
    const lines = formatPs([row]);
    expect(lines.join('\n')).not.toMatch(RAW_CONTROL);
    for (const cell of [`a${SHOWN}`, `p${SHOWN}.js`, `SIG${SHOWN}`, `t${SHOWN}`, `n${SHOWN}`]) expect(lines[1]).toContain(cell);
  });

  it('columns (shadow diff, principal ls, tools ls) escapes every cell and still lines them up', () => {
    const lines = columns([['A', 'B'], [`x${HOSTILE}`, 'y'], ['z', 'w']]);
    const width = `x${SHOWN}`.length;
    expect(lines).toEqual([`${'A'.padEnd(width)}  B`, `x${SHOWN}  y`, `${'z'.padEnd(width)}  w`]);
  });
});
