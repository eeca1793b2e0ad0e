import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../kernel/policy/load.ts';
import { kernelFor } from '../live-agents.ts';
import { report, run, syscallRecords } from './harness.ts';

describe('SYS_SIGPROCMASK', () => {
  it('block adds, unblock removes, set replaces; each returns the mask in force, lowest number first', async () => {
    const { value } = await report(`
      report([
        raw(SYS.SYS_SIGPROCMASK, 'block', ['SIGUSR1', 'SIGINT']),
        raw(SYS.SYS_SIGPROCMASK, 'block', ['SIGTERM', 'SIGINT']),
        raw(SYS.SYS_SIGPROCMASK, 'unblock', ['SIGINT', 'SIGCONT']),
        raw(SYS.SYS_SIGPROCMASK, 'set', ['SIGCONT', 'SIGSTOP']),
        raw(SYS.SYS_SIGPROCMASK, 'block', []),
        raw(SYS.SYS_SIGPROCMASK, 'set', []),
      ]);
    `);
    expect(value).toEqual([
      { v: ['SIGINT', 'SIGUSR1'] },
      { v: ['SIGINT', 'SIGTERM', 'SIGUSR1'] },
      { v: ['SIGTERM', 'SIGUSR1'] },
      { v: ['SIGSTOP', 'SIGCONT'] },
      { v: ['SIGSTOP', 'SIGCONT'] },
      { v: [] },
    ]);
  });

  it('silently leaves out SIGKILL, SIGPOLICY and SIGTRUST, by any spelling', async () => {
    const { value } = await report(`
      report([
        sys.signal.mask(['SIGKILL', 'SIGPOLICY', 'SIGTRUST']),
        sys.signal.setMask(['4', 'policy', 'sigtrust', 'SIGINT']),
        sys.signal.unmask(['SIGKILL']),
      ]);
    `);
    expect(value).toEqual([[], ['SIGINT'], ['SIGINT']]);
  });

  it('a masked signal sent to oneself is pending; unmasking delivers it inside the call', async () => {
    const { value } = await report(`
      sys.writeFile('mem/x', 'x');
      sys.signal.mask(['SIGUSR1']);
      const sent = sys.kill(sys.pid, 'SIGUSR1');
      const before = sys.readdir('state/checkpoints').length;
      sys.signal.unmask(['SIGUSR1']);
      report({ sent, before, after: sys.readdir('state/checkpoints').map((e) => e.name) });
    `);
    expect(value).toEqual({ sent: 'pending', before: 0, after: ['1'] });
  });

  it('a pending SIGINT ends the process inside the set call that unmasks it', async () => {
    const result = await run(`
      sys.signal.setMask(['SIGINT']);
      console.log(sys.kill(sys.pid, 'SIGINT'));
      sys.signal.setMask([]);
      console.log('not reached');
    `);
    expect(result.stdout).toBe('pending\n');
    expect(result.exit).toMatchObject({ status: 131, reason: { kind: 'signal', signal: 'SIGINT' } });
  });

  it('EINVAL for an unknown how, an unknown signal, a non-list and malformed arguments', async () => {
    const { value } = await report(`
      report([
        raw(SYS.SYS_SIGPROCMASK, 'add', ['SIGINT']),
        raw(SYS.SYS_SIGPROCMASK, 'BLOCK', ['SIGINT']),
        raw(SYS.SYS_SIGPROCMASK, 'block', ['SIGHUP']),
        raw(SYS.SYS_SIGPROCMASK, 'block', 'SIGINT'),
        raw(SYS.SYS_SIGPROCMASK, 'block', [3]),
        raw(SYS.SYS_SIGPROCMASK, 'block', Array.from({ length: 17 }, () => 'SIGINT')),
        raw(SYS.SYS_SIGPROCMASK, 'block'),
        raw(SYS.SYS_SIGPROCMASK),
        raw(SYS.SYS_SIGPROCMASK, 'block', [], 'extra'),
      ]);
    `);
    expect(value).toEqual(Array.from({ length: 9 }, () => ({ errno: 'EINVAL' })));
  });

  it('a failed call leaves the mask as it was', async () => {
    const { value } = await report(`sys.signal.mask(['SIGTERM']); raw(SYS.SYS_SIGPROCMASK, 'set', ['SIGINT', 'SIGNOPE']); report(sys.signal.mask([]));`);
    expect(value).toEqual(['SIGTERM']);
  });

  it('ENAMETOOLONG for a signal name over 32 characters', async () => {
    const { value } = await report("report(raw(SYS.SYS_SIGPROCMASK, 'block', ['S'.repeat(33)]));");
    expect(value).toEqual({ errno: 'ENAMETOOLONG' });
  });

  it('EACCES under a policy with no rule for it', async () => {
    const policy = parsePolicy('version: 1\nrules:\n  - id: write-only\n    effect: allow\n    syscalls: [SYS_WRITE]\n', 'write-only.yaml');
    const { value } = await report("report(raw(SYS.SYS_SIGPROCMASK, 'block', ['SIGTERM']));", { kernel: kernelFor({ policy }) });
    expect(value).toEqual({ errno: 'EACCES' });
  });

  it("records each call as allowed by the default policy's own-processes rule", async () => {
    const { result } = await report("sys.signal.mask(['SIGINT']); sys.signal.unmask(['SIGINT']); report(0);", { agentId: 'who' });
    expect(syscallRecords(result.kernel, 'SYS_SIGPROCMASK').map((r) => [r.effect, r.rule, r.agentId])).toEqual([
      ['allow', 'own-processes', 'who'],
      ['allow', 'own-processes', 'who'],
    ]);
  });
});
