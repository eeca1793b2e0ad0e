import { describe, expect, it } from 'vitest';
import { permissiveKernel, report, syscallRecords } from './harness.ts';

const TOOLS = { manifest: { capabilities: ['tool:*'] } };

describe('SYS_EXEC', () => {
  it('EACCES without a tool capability, under the default policy, with and without arguments', async () => {
    const { value } = await report(`
      report({
        bare: raw(SYS.SYS_EXEC, 'ls'),
        args: raw(SYS.SYS_EXEC, 'search', { query: 'cats', limit: 3, tags: ['a', null, true] }),
        nullArgs: raw(SYS.SYS_EXEC, 'ls', null),
        wrapper: errnoOf(() => sys.exec('ls', ['-l'])),
        protoKey: raw(SYS.SYS_EXEC, 'ls', JSON.parse('{"__proto__": {"x": 1}}')),
      });
    `);
    expect(value).toEqual({ bare: { errno: 'EACCES' }, args: { errno: 'EACCES' }, nullArgs: { errno: 'EACCES' }, wrapper: 'EACCES', protoKey: { errno: 'EACCES' } });
  });

  it('EACCES without a tool capability even when the policy allows everything', async () => {
    const { value } = await report("report(syscall(SYS.SYS_EXEC, 'ls'));", { kernel: permissiveKernel(), manifest: { capabilities: ['tool:grep'] } });
    expect(value).toEqual({ errno: 'EACCES', message: 'SYS_EXEC denied by capability: no capability tool:ls' });
  });

  it('answers ENOSYS until the tool registry lands, once capability and policy allow it', async () => {
    const { value } = await report(`
      report({
        bare: raw(SYS.SYS_EXEC, 'ls'),
        args: raw(SYS.SYS_EXEC, 'search', { query: 'cats', limit: 3, tags: ['a', null, true] }),
        nullArgs: raw(SYS.SYS_EXEC, 'ls', null),
        wrapper: errnoOf(() => sys.exec('ls', ['-l'])),
        protoKey: raw(SYS.SYS_EXEC, 'ls', JSON.parse('{"__proto__": {"x": 1}}')),
      });
    `, { kernel: permissiveKernel(), ...TOOLS });
    expect(value).toEqual({ bare: { errno: 'ENOSYS' }, args: { errno: 'ENOSYS' }, nullArgs: { errno: 'ENOSYS' }, wrapper: 'ENOSYS', protoKey: { errno: 'ENOSYS' } });
  });

  it('the ENOSYS message names the syscall and its issue', async () => {
    const { value } = await report("report(syscall(SYS.SYS_EXEC, 'ls').message);", { kernel: permissiveKernel(), ...TOOLS });
    expect(value).toBe('SYS_EXEC is not implemented yet (#5)');
  });

  it('EINVAL before any check for malformed arguments, since decoding comes first', async () => {
    const { value } = await report(`
      let deep = 1;
      for (let i = 0; i < 20; i++) deep = [deep];
      report([
        raw(SYS.SYS_EXEC, 42),
        raw(SYS.SYS_EXEC, { tool: 'ls' }),
        raw(SYS.SYS_EXEC),
        raw(SYS.SYS_EXEC, 'l\\0s'),
        raw(SYS.SYS_EXEC, 'ls', new Date(0)),
        raw(SYS.SYS_EXEC, 'ls', { n: NaN }),
        raw(SYS.SYS_EXEC, 'ls', [Infinity]),
        raw(SYS.SYS_EXEC, 'ls', deep),
        raw(SYS.SYS_EXEC, 'ls', new Array(300).fill(0)),
        raw(SYS.SYS_EXEC, 'ls', new Map()),
        raw(SYS.SYS_EXEC, 'ls', null, 'extra'),
      ]);
    `);
    expect(value).toEqual(Array.from({ length: 11 }, () => ({ errno: 'EINVAL' })));
  });

  it('ENAMETOOLONG for a tool name over 256 characters', async () => {
    const { value } = await report("report(raw(SYS.SYS_EXEC, 't'.repeat(257)));");
    expect(value).toEqual({ errno: 'ENAMETOOLONG' });
  });

  it('the process keeps running after EACCES and after ENOSYS', async () => {
    const denied = await report("errnoOf(() => sys.exec('ls')); report('alive');");
    expect([denied.value, denied.result.exit.status]).toEqual(['alive', 0]);
    const { value, result } = await report("errnoOf(() => sys.exec('ls')); report('alive');", { kernel: permissiveKernel(), ...TOOLS });
    expect(value).toBe('alive');
    expect(result.exit.status).toBe(0);
  });

  it('records each well-formed exec as a decision for the caller', async () => {
    const denied = await report("errnoOf(() => sys.exec('ls')); report(0);", { agentId: 'tooler' });
    expect(syscallRecords(denied.result.kernel, 'SYS_EXEC').map((r) => [r.effect, r.rule, r.reason, r.agentId, r.pid, r.path])).toEqual([
      ['deny', 'capability', 'no capability tool:ls', 'tooler', denied.result.exit.pid, undefined],
    ]);
    const { result } = await report("errnoOf(() => sys.exec('ls')); report(0);", { agentId: 'tooler', kernel: permissiveKernel(), ...TOOLS });
    expect(syscallRecords(result.kernel, 'SYS_EXEC').map((r) => [r.effect, r.rule, r.agentId, r.pid, r.path])).toEqual([
      ['allow', 'allow-all', 'tooler', result.exit.pid, undefined],
    ]);
  });
});
