import { describe, expect, it } from 'vitest';
import { Kernel } from '../../kernel/kernel.ts';
import { defaultPolicy } from '../../kernel/policy/default.ts';
import { parsePolicy } from '../../kernel/policy/load.ts';
import { report, syscallRecords } from './harness.ts';

const VERSION = defaultPolicy().version;

describe('SYS_CHECKPOLICY', () => {
  it('answers effect, rule, reason and policy version, for arguments by name or by position', async () => {
    const { value } = await report(`
      report({
        byName: sys.checkPolicy('SYS_OPEN', { path: 'mem/x', flags: 'r' }),
        byPosition: raw(SYS.SYS_CHECKPOLICY, 'SYS_OPEN', ['mem/x', 'w']).v,
        noArgs: sys.checkPolicy('SYS_GETPID'),
        nullArgs: raw(SYS.SYS_CHECKPOLICY, 'SYS_GETPID', null).v,
        exec: sys.checkPolicy('SYS_EXEC', ['ls']),
      });
    `, { agentId: 'a', manifest: { capabilities: ['tool:ls'] } });
    expect(value).toEqual({
      byName: { effect: 'allow', rule: 'own-tree', reason: 'allowed by rule own-tree', policyVersion: VERSION },
      byPosition: { effect: 'allow', rule: 'own-tree', reason: 'allowed by rule own-tree', policyVersion: VERSION },
      noArgs: { effect: 'allow', rule: 'own-fds-and-self', reason: 'allowed by rule own-fds-and-self', policyVersion: VERSION },
      nullArgs: { effect: 'allow', rule: 'own-fds-and-self', reason: 'allowed by rule own-fds-and-self', policyVersion: VERSION },
      exec: { effect: 'deny', rule: 'default-deny', reason: 'no rule matches', policyVersion: VERSION },
    });
  });

  it('answers the capability check first: no policy version, since no policy decided', async () => {
    const { value } = await report(`
      report([sys.checkPolicy('SYS_OPEN', { path: '/etc/passwd', flags: 'r' }), sys.checkPolicy('SYS_MKDIR', ['/agent/b/x']), sys.checkPolicy('SYS_EXEC', ['ls'])]);
    `, { agentId: 'a' });
    expect(value).toEqual([
      { effect: 'deny', rule: 'capability', reason: 'no capability covers read access to /etc/passwd', policyVersion: null },
      { effect: 'deny', rule: 'capability', reason: 'no capability covers write access to /agent/b/x', policyVersion: null },
      { effect: 'deny', rule: 'capability', reason: 'no capability tool:ls', policyVersion: null },
    ]);
  });

  it('does nothing: no file is created, no process exits, the checked call is not recorded', async () => {
    const { value, result } = await report(`
      sys.checkPolicy('SYS_OPEN', { path: 'mem/new', flags: 'w' });
      sys.checkPolicy('SYS_MKDIR', { path: 'mem/dir', recursive: true });
      sys.checkPolicy('SYS_EXIT', [7]);
      sys.checkPolicy('SYS_OPEN', { path: '/etc/passwd', flags: 'r' });
      report([errnoOf(() => sys.stat('mem/new')), errnoOf(() => sys.stat('mem/dir'))]);
    `, { agentId: 'a' });
    expect(value).toEqual(['ENOENT', 'ENOENT']);
    expect(result.exit.status).toBe(0);
    for (const name of ['SYS_OPEN', 'SYS_MKDIR', 'SYS_EXIT']) expect(syscallRecords(result.kernel, name)).toEqual([]);
  });

  it('does not count against limits, while the real call does', async () => {
    const policy = parsePolicy(
      ['version: 1', 'rules:', '  - { id: once, effect: allow, syscalls: [SYS_GETPID], limits: { max_calls: 1 } }', '  - { id: rest, effect: allow, syscalls: [SYS_CHECKPOLICY, SYS_WRITE, SYS_EXIT] }', ''].join('\n'),
      'once.yaml',
    );
    const { value } = await report(`
      const checks = [1, 2, 3].map(() => sys.checkPolicy('SYS_GETPID').effect);
      const first = errnoOf(() => sys.getpid());
      const after = sys.checkPolicy('SYS_GETPID');
      report({ checks, first, after, second: errnoOf(() => sys.getpid()) });
    `, { kernel: new Kernel({ policy }) });
    expect(value).toEqual({
      checks: ['allow', 'allow', 'allow'],
      first: 'ok',
      after: { effect: 'deny', rule: 'once', reason: 'limit: max_calls 1 reached', policyVersion: policy.version },
      second: 'EACCES',
    });
  });

  it('answers require_approval without asking anyone or blocking', async () => {
    const policy = parsePolicy(
      ['version: 1', 'rules:', '  - { id: ask, effect: require_approval, syscalls: [SYS_UNLINK] }', '  - { id: rest, effect: allow, syscalls: [SYS_CHECKPOLICY, SYS_WRITE] }', ''].join('\n'),
      'ask.yaml',
    );
    const kernel = new Kernel({ policy });
    const { value } = await report("report(sys.checkPolicy('SYS_UNLINK', ['mem/x']));", { kernel });
    expect(value).toEqual({ effect: 'require_approval', rule: 'ask', reason: 'needs approval by rule ask', policyVersion: policy.version });
    expect(kernel.approvals.list()).toEqual([]);
  });

  it('EINVAL for an unknown syscall name or arguments the checked row rejects', async () => {
    const { value } = await report(`
      report({
        unknown: syscall(SYS.SYS_CHECKPOLICY, 'SYS_NOPE', [1, 'two', false]),
        lower: raw(SYS.SYS_CHECKPOLICY, 'sys_open', ['mem/x', 'r']),
        missing: raw(SYS.SYS_CHECKPOLICY, 'SYS_OPEN'),
        wrongType: raw(SYS.SYS_CHECKPOLICY, 'SYS_READ', { fd: 'three', length: 1 }),
        badFlags: raw(SYS.SYS_CHECKPOLICY, 'SYS_OPEN', ['mem/x', 'rw']),
        tooMany: raw(SYS.SYS_CHECKPOLICY, 'SYS_GETPID', [1]),
        protoKey: raw(SYS.SYS_CHECKPOLICY, 'SYS_OPEN', JSON.parse('{"__proto__": {"path": "mem/x", "flags": "r"}}')),
        wrapper: errnoOf(() => sys.checkPolicy('SYS_READ', { fd: 3 })),
      });
    `);
    expect(value).toEqual({
      unknown: { errno: 'EINVAL', message: "unknown syscall 'SYS_NOPE'" },
      lower: { errno: 'EINVAL' },
      missing: { errno: 'EINVAL' },
      wrongType: { errno: 'EINVAL' },
      badFlags: { errno: 'EINVAL' },
      tooMany: { errno: 'EINVAL' },
      protoKey: { errno: 'EINVAL' },
      wrapper: 'EINVAL',
    });
  });

  it('EINVAL for malformed arguments of SYS_CHECKPOLICY itself', async () => {
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

  it('records each well-formed check as a decision for the caller, valid or not', async () => {
    const { result } = await report("sys.checkPolicy('SYS_GETPID'); errnoOf(() => sys.checkPolicy('SYS_READ')); raw(SYS.SYS_CHECKPOLICY, 5); report(0);", { agentId: 'asker' });
    expect(syscallRecords(result.kernel, 'SYS_CHECKPOLICY').map((r) => [r.effect, r.rule, r.agentId, r.pid, r.path])).toEqual([
      ['allow', 'own-fds-and-self', 'asker', result.exit.pid, undefined],
      ['allow', 'own-fds-and-self', 'asker', result.exit.pid, undefined],
    ]);
  });

  it('is itself subject to policy: denied where no rule allows it', async () => {
    const policy = parsePolicy('version: 1\nrules:\n  - { id: io, effect: allow, syscalls: [SYS_WRITE] }\n', 'no-check.yaml');
    const { value } = await report("report(syscall(SYS.SYS_CHECKPOLICY, 'SYS_GETPID'));", { kernel: new Kernel({ policy }) });
    expect(value).toEqual({ errno: 'EACCES', message: 'SYS_CHECKPOLICY denied by default-deny: no rule matches' });
  });
});
