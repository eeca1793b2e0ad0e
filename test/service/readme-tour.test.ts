/**
 * The README's agentd tour, command by command, against a real agentd
 * started with examples/agentd.yaml and the real examples/tour.ts: if the
 * README's block stops working as written, this fails.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentctl, REPO, startAgentd, until, type Agentd } from './helpers.ts';

let agentd: Agentd;
const ctl = (...args: string[]) => agentctl(agentd, ...args);

beforeAll(async () => {
  // The configuration's own relative paths are relative to examples/: point at them from the scratch copy.
  const config = readFileSync(join(REPO, 'examples/agentd.yaml'), 'utf8').replace('policy: policies/tour.yaml', `policy: ${join(REPO, 'examples/policies/tour.yaml')}`);
  agentd = await startAgentd(config);
});
afterAll(() => agentd.remove());

describe('the README tour', () => {
  it('spawn, ps, approvals, approve, output, stop/cont, vfs, checkpoint, logs, policy set, audit verify, top, kill, principals', async () => {
    expect(await ctl('spawn', join(REPO, 'examples/tour.ts'), '--agent', 'notes', '--', 'buy milk', 'call Alice')).toMatchObject({ status: 0, stdout: '1 (agent notes)\n' });
    expect((await ctl('ps')).stdout).toMatch(/^PID\s+PPID\s+AGENT\s+STATE\s+SYSCALLS\s+FDS\s+PENDING\s+TREE\s+CPU\s+VFS\s+PROGRAM\s*\n1\s+0\s+notes\s/);
    await until(async () => (await ctl('approvals')).stdout.startsWith('ap-1'), 'the delete to ask for approval');
    expect((await ctl('approvals')).stdout).toContain('ap-1  pid 1 notes  SYS_UNLINK /agent/notes/mem/episodic/notes/000.txt');
    expect(await ctl('approve', 'ap-1', '--reason', 'looks fine')).toMatchObject({ status: 0, stdout: 'ap-1: approved by operator\n' });
    await until(async () => (await ctl('output', '1')).stdout.includes('waiting for work'), 'the agent to wait for work');
    expect((await ctl('output', '1')).stdout).toBe('wrote 2 notes to /agent/notes/mem/episodic/notes\nasking to delete mem/episodic/notes/000.txt (see agentctl approvals)\ndeleted 000.txt\nwaiting for work (agentctl stop, cont, kill)\n');
    expect(await ctl('stop', '1')).toMatchObject({ status: 0, stdout: '1: SIGSTOP stopped\n' });
    expect(await ctl('cont', '1')).toMatchObject({ status: 0, stdout: '1: SIGCONT continued\n' });
    expect(await ctl('vfs', 'ls', '1', 'mem/episodic/notes')).toMatchObject({ status: 0, stdout: '001.txt\n' });
    expect(await ctl('vfs', 'cat', '1', 'mem/episodic/notes/001.txt')).toMatchObject({ status: 0, stdout: 'call Alice' });
    expect((await ctl('checkpoint', '1')).stdout).toMatch(/^checkpoint 1: 1 files, 10 bytes at \/agent\/notes\/state\/checkpoints\/1\n$/);
    expect((await ctl('logs', '--decision', 'require_approval')).stdout).toMatch(/pid 1 notes SYS_UNLINK \/agent\/notes\/mem\/episodic\/notes\/000\.txt require_approval \(deletes-need-approval\)/);
    expect((await ctl('policy', 'set', join(REPO, 'examples/policies/notes.yaml'))).stdout).toMatch(/^policy replaced: sha256:\w+ -> sha256:\w+\n$/);
    expect((await ctl('audit', 'verify')).stdout).toMatch(/^ok: \d+ records verify/);
    expect((await ctl('top', '--once')).stdout).toMatch(/1 processes {2}0 pending approvals/);
    expect(await ctl('kill', '-TERM', '1')).toMatchObject({ status: 0, stdout: '1: SIGTERM delivered\n' });
    await until(async () => (await ctl('output', '1')).stdout.endsWith('SIGTERM: goodbye\n'), 'the agent to say goodbye');
    expect((await ctl('ps')).stdout).toMatch(/\n1\s+0\s+notes\s+exited\(0\)/);
    const created = await ctl('principal', 'create', '--agent', 'report-bot', '--label', 'team=finance');
    expect(created.status).toBe(0);
    expect((await ctl('principal', 'ls')).stdout).toMatch(/report-bot/);
    expect(await ctl('principal', 'revoke', 'report-bot')).toMatchObject({ status: 0 });
  });
});
