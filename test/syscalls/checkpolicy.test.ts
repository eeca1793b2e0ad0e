import { describe, expect, it } from 'vitest';
import { report, syscallRecords } from './harness.ts';

describe('SYS_CHECKPOLICY', () => {
  it('answers ENOSYS until the policy engine lands, with and without arguments', async () => {
    const { value } = await report(`
      report({
        bare: raw(SYS.SYS_CHECKPOLICY, 'SYS_OPEN'),
        args: raw(SYS.SYS_CHECKPOLICY, 'SYS_OPEN', { path: '/etc/passwd', flags: 'r' }),
        nullArgs: raw(SYS.SYS_CHECKPOLICY, 'SYS_OPEN', null),
        unknownName: raw(SYS.SYS_CHECKPOLICY, 'SYS_NOPE', [1, 'two', false]),
        wrapper: errnoOf(() => sys.checkPolicy('SYS_READ', { fd: 3 })),
        protoKey: raw(SYS.SYS_CHECKPOLICY, 'SYS_OPEN', JSON.parse('{"__proto__": {"admin": true}}')),
      });
    `);
    expect(value).toEqual({
      bare: { errno: 'ENOSYS' },
      args: { errno: 'ENOSYS' },
      nullArgs: { errno: 'ENOSYS' },
      unknownName: { errno: 'ENOSYS' },
      wrapper: 'ENOSYS',
      protoKey: { errno: 'ENOSYS' },
    });
  });

  it('the ENOSYS message names the syscall and its issue', async () => {
    const { value } = await report("report(syscall(SYS.SYS_CHECKPOLICY, 'SYS_READ').message);");
    expect(value).toBe('SYS_CHECKPOLICY is not implemented yet (#3)');
  });

  it('checking a path outside the tree is not itself denied: it touches nothing', async () => {
    const { value, result } = await report("report(raw(SYS.SYS_CHECKPOLICY, 'SYS_OPEN', { path: '/etc/passwd' }));", { agentId: 'a' });
    expect(value).toEqual({ errno: 'ENOSYS' });
    expect(syscallRecords(result.kernel, 'SYS_OPEN')).toEqual([]);
  });

  it('EINVAL before ENOSYS for malformed arguments, since decoding comes first', async () => {
    const { value } = await report(`
      let deep = {};
      for (let i = 0; i < 20; i++) deep = { deep };
      const wide = {};
      for (let i = 0; i < 300; i++) wide['k' + i] = i;
      report([
        raw(SYS.SYS_CHECKPOLICY, 3),
        raw(SYS.SYS_CHECKPOLICY, { syscall: 'SYS_READ' }),
        raw(SYS.SYS_CHECKPOLICY),
        raw(SYS.SYS_CHECKPOLICY, 'SYS_\\0READ'),
        raw(SYS.SYS_CHECKPOLICY, 'SYS_READ', new Date(0)),
        raw(SYS.SYS_CHECKPOLICY, 'SYS_READ', { n: NaN }),
        raw(SYS.SYS_CHECKPOLICY, 'SYS_READ', { n: -Infinity }),
        raw(SYS.SYS_CHECKPOLICY, 'SYS_READ', deep),
        raw(SYS.SYS_CHECKPOLICY, 'SYS_READ', wide),
        raw(SYS.SYS_CHECKPOLICY, 'SYS_READ', { s: 'x'.repeat(65 * 1024) }),
        raw(SYS.SYS_CHECKPOLICY, 'SYS_READ', new Uint8Array(2)),
        raw(SYS.SYS_CHECKPOLICY, 'SYS_READ', null, 'extra'),
      ]);
    `);
    expect(value).toEqual(Array.from({ length: 12 }, () => ({ errno: 'EINVAL' })));
  });

  it('ENAMETOOLONG for a syscall name over 64 characters', async () => {
    const { value } = await report("report(raw(SYS.SYS_CHECKPOLICY, 'S'.repeat(65)));");
    expect(value).toEqual({ errno: 'ENAMETOOLONG' });
  });

  it('records each well-formed check as a decision for the caller', async () => {
    const { result } = await report("errnoOf(() => sys.checkPolicy('SYS_READ')); raw(SYS.SYS_CHECKPOLICY, 5); report(0);", { agentId: 'asker' });
    expect(syscallRecords(result.kernel, 'SYS_CHECKPOLICY').map((r) => [r.effect, r.rule, r.agentId, r.pid, r.path])).toEqual([
      ['allow', 'builtin.no-path', 'asker', result.exit.pid, undefined],
    ]);
  });
});
