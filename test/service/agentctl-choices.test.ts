/**
 * Options with a fixed set of values (`--decision`, `--type`) are checked by
 * agentctl itself: a wrong value fails at once with the allowed values
 * listed, before any request or file read (status 2, as every usage error:
 * 1 is a verdict for several commands); a right one gets through.
 */
import { describe, expect, it } from 'vitest';
import { agentctl } from './helpers.ts';

/** No agentd listens here: a command that gets past its options fails with status 3 (agentd unreachable). */
const NOWHERE = ['--url', 'http://127.0.0.1:1', '--token', 'not-checked'];

describe.concurrent('agentctl option values', { timeout: 60_000 }, () => {
  it('logs --decision bogus fails, listing allow, deny and require_approval', async () => {
    const r = await agentctl(undefined, 'logs', '--decision', 'bogus', ...NOWHERE);
    expect(r).toMatchObject({ status: 2, stdout: '' });
    expect(r.stderr).toMatch(/^error: option '--decision <effect>' argument 'bogus' is invalid\. Allowed choices are allow, deny, require_approval\.\n/);
  });

  it('logs --decision require_approval gets past the options (to agentd, which is not there)', async () => {
    const r = await agentctl(undefined, 'logs', '--decision', 'require_approval', ...NOWHERE);
    expect(r).toMatchObject({ status: 3, stdout: '' });
    expect(r.stderr).toMatch(/^agentctl: cannot reach agentd/);
  });

  it('audit show --decision and --type reject values that match no record, listing the allowed ones', async () => {
    const decision = await agentctl(undefined, 'audit', 'show', 'no-such-file.jsonl', '--decision', 'denied');
    expect(decision).toMatchObject({ status: 2, stdout: '' });
    expect(decision.stderr).toContain('Allowed choices are allow, deny, require_approval.');
    const type = await agentctl(undefined, 'audit', 'show', 'no-such-file.jsonl', '--type', 'syscalls');
    expect(type).toMatchObject({ status: 2, stdout: '' });
    expect(type.stderr).toContain('Allowed choices are syscall, spawn, exit, signal, approval, checkpoint, policy, auth, limit, log, outcome, contract, shadow.');
  });

  it("a pid, a sequence number or a count is plain decimal digits, else status 2 before any request: '0x10' was pid 16, an unset $SEQ printed from the start", async () => {
    const cases: [string[], string][] = [
      [['output', '0x10'], "not a pid: '0x10'"],
      [['vfs', 'ls', ' 3'], "not a pid: ' 3'"],
      [['logs', '--after', ''], '--after must be a sequence number'],
      [['logs', '--limit', 'abc'], "--limit must be a count of at least 1, not 'abc'"],
    ];
    for (const [args, message] of cases) {
      const r = await agentctl(undefined, ...args, ...NOWHERE);
      expect(r, args.join(' ')).toMatchObject({ status: 2, stdout: '', stderr: `agentctl: ${message}\n` });
    }
  });
});
