/**
 * A usage error — an argument that does not read (a pid, a signal, a
 * selector) or a file named on the command line that cannot be read — is
 * one line on stderr and status 2, as the README says, from every command
 * that talks to agentd; none of them reaches agentd (1 is a verdict: an
 * unknown pid, a refusal).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { agentctl } from './helpers.ts';

/** No agentd listens here: a command that got past its arguments would fail with status 3 (agentd unreachable). */
const NOWHERE = ['--url', 'http://127.0.0.1:1', '--token', 'not-checked'];

const dir = mkdtempSync(join(tmpdir(), 'agentctl-usage-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.concurrent('agentctl usage errors exit 2 with one line', { timeout: 60_000 }, () => {
  const missing = join(dir, 'missing.ts');
  const cases: [string[], string][] = [
    [['kill', '-KILL', '-1'], "agentctl: -1: not a pid\n"],
    [['kill', '-KILL', '99999999999999999999999'], 'agentctl: 99999999999999999999999: not a pid\n'],
    [['stop', '1.5'], 'agentctl: 1.5: not a pid\n'],
    [['kill', '-99', '1'], "agentctl: unknown signal '99' (SIGSTOP, SIGCONT, SIGINT, SIGKILL, SIGTERM, SIGUSR1, SIGPOLICY, SIGTRUST or their numbers)\n"],
    [['kill', '-FOO', '1'], "agentctl: unknown signal 'FOO' (SIGSTOP, SIGCONT, SIGINT, SIGKILL, SIGTERM, SIGUSR1, SIGPOLICY, SIGTRUST or their numbers)\n"],
    [['spawn', '/dev/zero'], 'agentctl: /dev/zero: not a regular file\n'],
    [['spawn', '/tmp'], 'agentctl: /tmp: not a regular file\n'],
    [['policy', 'set', '/dev/stdin'], 'agentctl: /dev/stdin: not a regular file\n'],
    [['spawn', missing], `agentctl: ${missing}: no such file or directory\n`],
    [['freeze', '--selector', ''], "agentctl: --selector takes label=value pairs separated by commas, not ''\n"],
    [['thaw', '--selector', 'team'], "agentctl: --selector takes label=value pairs separated by commas, not 'team'\n"],
    [['principal', 'create', '--agent', 'a', '--label', 'novalue'], 'agentctl: --label novalue: write it as key=value\n'],
    [['autonomy', 'notes', 'everything'], "agentctl: autonomy must be one of full, supervised, observe, not 'everything'\n"],
  ];
  it.each(cases)('agentctl %j', async (args, stderr) => {
    const r = await agentctl(undefined, ...args, ...NOWHERE);
    expect({ status: r.status, stdout: r.stdout }).toEqual({ status: 2, stdout: '' });
    expect(r.stderr.replace(/\(ENOENT\)/, '')).toBe(stderr);
  });

  it('a pid that does not read stops the command before any pid is signalled (nothing half done)', async () => {
    // 7 would be sent first (and reach nowhere: status 3); the bad pid after it is found before any request.
    const r = await agentctl(undefined, 'kill', '-STOP', '7', 'x7', ...NOWHERE);
    expect(r).toMatchObject({ status: 2, stdout: '', stderr: 'agentctl: x7: not a pid\n' });
  });

  it('output 0x10 still exits 2', async () => {
    const r = await agentctl(undefined, 'output', '0x10', ...NOWHERE);
    expect(r).toMatchObject({ status: 2, stdout: '', stderr: "agentctl: not a pid: '0x10'\n" });
  });

  it('a manifest that cannot be read is a usage error too', async () => {
    const program = join(dir, 'ok.js');
    writeFileSync(program, "console.log('hi');\n");
    const r = await agentctl(undefined, 'spawn', program, '--manifest', join(dir, 'nope.yaml'), ...NOWHERE);
    expect(r).toMatchObject({ status: 2, stdout: '', stderr: `agentctl: ${join(dir, 'nope.yaml')}: no such file or directory\n` });
  });
});
