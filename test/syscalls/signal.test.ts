import { describe, expect, it } from 'vitest';
import { permissiveKernel, report, syscallRecords } from './harness.ts';

describe('SYS_SIGNAL', () => {
  it('EACCES under the default policy, which has no rule for SYS_SIGNAL', async () => {
    const { value, result } = await report(`
      report({
        self: raw(SYS.SYS_SIGNAL, sys.pid, 'SIGTERM'),
        other: raw(SYS.SYS_SIGNAL, 12345, 'SIGKILL'),
        byNumber: errnoOf(() => sys.kill(1, 4)),
        message: syscall(SYS.SYS_SIGNAL, 1, 'SIGTERM').message,
      });
    `);
    expect(value).toEqual({ self: { errno: 'EACCES' }, other: { errno: 'EACCES' }, byNumber: 'EACCES', message: 'SYS_SIGNAL denied by default-deny: no rule matches' });
    expect(syscallRecords(result.kernel, 'SYS_SIGNAL').map((r) => [r.effect, r.rule])).toEqual(Array.from({ length: 4 }, () => ['deny', 'default-deny']));
  });

  it('answers ENOSYS until signal delivery lands, for any well-formed target and signal the policy allows', async () => {
    const { value } = await report(`
      report({
        self: raw(SYS.SYS_SIGNAL, sys.pid, 'SIGTERM'),
        other: raw(SYS.SYS_SIGNAL, 12345, 'SIGKILL'),
        byNumber: errnoOf(() => sys.kill(1, 4)),
        wrapper: errnoOf(() => sys.kill(sys.pid, 'SIGSTOP')),
        unknownName: raw(SYS.SYS_SIGNAL, 1, 'SIGNOPE'),
        maxPid: raw(SYS.SYS_SIGNAL, 2 ** 31 - 1, 'SIGINT'),
      });
    `, { kernel: permissiveKernel() });
    expect(value).toEqual({
      self: { errno: 'ENOSYS' },
      other: { errno: 'ENOSYS' },
      byNumber: 'ENOSYS',
      wrapper: 'ENOSYS',
      unknownName: { errno: 'ENOSYS' },
      maxPid: { errno: 'ENOSYS' },
    });
  });

  it('the ENOSYS message names the syscall and its issue', async () => {
    const { value } = await report("report(syscall(SYS.SYS_SIGNAL, 1, 'SIGTERM').message);", { kernel: permissiveKernel() });
    expect(value).toBe('SYS_SIGNAL is not implemented yet (#4)');
  });

  it('a signal to itself does not end the process yet', async () => {
    const { value, result } = await report("errnoOf(() => sys.kill(sys.pid, 'SIGKILL')); report('alive');", { kernel: permissiveKernel() });
    expect(value).toBe('alive');
    expect(result.exit.status).toBe(0);
    expect(result.exit.reason).toEqual({ kind: 'exit' });
  });

  it('EINVAL before any check for malformed arguments, since decoding comes first', async () => {
    const { value } = await report(`
      report([
        raw(SYS.SYS_SIGNAL, 0, 'SIGTERM'),
        raw(SYS.SYS_SIGNAL, -1, 'SIGTERM'),
        raw(SYS.SYS_SIGNAL, 1.5, 'SIGTERM'),
        raw(SYS.SYS_SIGNAL, '1', 'SIGTERM'),
        raw(SYS.SYS_SIGNAL, 2 ** 31, 'SIGTERM'),
        raw(SYS.SYS_SIGNAL, { pid: 1 }, 'SIGTERM'),
        raw(SYS.SYS_SIGNAL, 1, 9),
        raw(SYS.SYS_SIGNAL, 1, { signal: 'SIGTERM' }),
        raw(SYS.SYS_SIGNAL, 1, 'SIG\\0TERM'),
        raw(SYS.SYS_SIGNAL, 1),
        raw(SYS.SYS_SIGNAL),
        raw(SYS.SYS_SIGNAL, 1, 'SIGTERM', 'extra'),
      ]);
    `);
    expect(value).toEqual(Array.from({ length: 12 }, () => ({ errno: 'EINVAL' })));
  });

  it('ENAMETOOLONG for a signal name over 32 characters', async () => {
    const { value } = await report("report(raw(SYS.SYS_SIGNAL, 1, 'S'.repeat(33)));");
    expect(value).toEqual({ errno: 'ENAMETOOLONG' });
  });

  it('records each well-formed signal as a decision for the caller', async () => {
    const { result } = await report("errnoOf(() => sys.kill(1, 'SIGTERM')); raw(SYS.SYS_SIGNAL, 0, 'SIGTERM'); report(0);", { agentId: 'sender', kernel: permissiveKernel() });
    expect(syscallRecords(result.kernel, 'SYS_SIGNAL').map((r) => [r.effect, r.rule, r.agentId, r.pid])).toEqual([
      ['allow', 'allow-all', 'sender', result.exit.pid],
    ]);
  });
});
