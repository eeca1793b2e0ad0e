import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../kernel/policy/load.ts';
import { exited, IDLE, idle, kernelFor, printed, start } from '../live-agents.ts';
import { report, syscallRecords } from './harness.ts';

describe('SYS_SIGACTION', () => {
  it('returns the canonical name of the signal whose disposition it set', async () => {
    const { value } = await report(`
      report([raw(SYS.SYS_SIGACTION, 'term', 'handle'), raw(SYS.SYS_SIGACTION, '3', 'ignore'), raw(SYS.SYS_SIGACTION, 'SigUsr1', 'default'), raw(SYS.SYS_SIGACTION, 'SIGINT', 'default')]);
    `);
    expect(value).toEqual([{ v: 'SIGTERM' }, { v: 'SIGINT' }, { v: 'SIGUSR1' }, { v: 'SIGINT' }]);
  });

  it('sets the disposition the kernel acts on: ignore, handle, default', async () => {
    const kernel = kernelFor();
    const agent = start(kernel, `
      syscall(SYS.SYS_SIGACTION, 'SIGINT', 'ignore');
      sys.signal.on('SIGTERM', () => console.log('term handled'));
      syscall(SYS.SYS_SIGACTION, 'SIGUSR1', 'handle');
      ${IDLE}`);
    await idle(agent);
    expect(['SIGINT', 'SIGTERM', 'SIGUSR1'].map((s) => agent.proc.signals.disposition(s as 'SIGINT'))).toEqual(['ignore', 'handle', 'handle']);
    expect(kernel.kill(agent.pid, 'SIGINT')).toBe('ignored');
    expect(kernel.kill(agent.pid, 'SIGTERM')).toBe('delivered');
    await printed(agent, 'term handled');
    // A raw 'handle' with no handler in the runtime: the kernel delivers, the runtime finds nothing to run.
    expect(kernel.kill(agent.pid, 'SIGUSR1')).toBe('delivered');
    expect(agent.proc.exit).toBeUndefined();
  });

  it("'default' restores the default action", async () => {
    const kernel = kernelFor();
    const agent = start(kernel, `sys.signal.ignore('SIGINT'); syscall(SYS.SYS_SIGACTION, 'SIGINT', 'default'); ${IDLE}`);
    await idle(agent);
    expect(kernel.kill(agent.pid, 'SIGINT')).toBe('terminated');
    expect((await exited(agent)).status).toBe(131);
  });

  it('EINVAL for handle or ignore of SIGKILL, SIGSTOP, SIGCONT, SIGPOLICY and SIGTRUST; their default is accepted', async () => {
    const { value } = await report(`
      const names = ['SIGKILL', 'SIGSTOP', 'SIGCONT', 'SIGPOLICY', 'SIGTRUST'];
      report({
        handle: names.map((s) => raw(SYS.SYS_SIGACTION, s, 'handle')),
        ignore: names.map((s) => raw(SYS.SYS_SIGACTION, s, 'ignore')),
        byDefault: names.map((s) => raw(SYS.SYS_SIGACTION, s, 'default')),
        message: syscall(SYS.SYS_SIGACTION, 'KILL', 'ignore').message,
      });
    `);
    expect(value).toEqual({
      handle: Array.from({ length: 5 }, () => ({ errno: 'EINVAL' })),
      ignore: Array.from({ length: 5 }, () => ({ errno: 'EINVAL' })),
      byDefault: ['SIGKILL', 'SIGSTOP', 'SIGCONT', 'SIGPOLICY', 'SIGTRUST'].map((v) => ({ v })),
      message: 'SIGKILL cannot be caught or ignored',
    });
  });

  it('ignoring a signal drops it from the pending set', async () => {
    const { value } = await report(`
      sys.signal.mask(['SIGINT']);
      const sent = sys.kill(sys.pid, 'SIGINT');
      sys.signal.ignore('SIGINT');
      sys.signal.unmask(['SIGINT']);
      report(sent);
    `);
    expect(value).toBe('pending');
  });

  it('sys.signal.on refuses a handler that is not a function without making the call', async () => {
    const { value, result } = await report(`report(errnoOf(() => sys.signal.on('SIGINT', 'not a function')));`);
    expect(value).toBe('TypeError: handler must be a function');
    expect(syscallRecords(result.kernel, 'SYS_SIGACTION')).toEqual([]);
  });

  it('EINVAL for unknown signals, unknown actions and malformed arguments', async () => {
    const { value } = await report(`
      report([
        raw(SYS.SYS_SIGACTION, 'SIGHUP', 'handle'),
        raw(SYS.SYS_SIGACTION, '7', 'ignore'),
        raw(SYS.SYS_SIGACTION, 'SIGINT', 'catch'),
        raw(SYS.SYS_SIGACTION, 'SIGINT', 'HANDLE'),
        raw(SYS.SYS_SIGACTION, 3, 'handle'),
        raw(SYS.SYS_SIGACTION, 'SIGINT'),
        raw(SYS.SYS_SIGACTION),
        raw(SYS.SYS_SIGACTION, 'SIGINT', 'handle', 'extra'),
        raw(SYS.SYS_SIGACTION, ['SIGINT'], 'handle'),
      ]);
    `);
    expect(value).toEqual(Array.from({ length: 9 }, () => ({ errno: 'EINVAL' })));
  });

  it('EACCES under a policy with no rule for it', async () => {
    const policy = parsePolicy('version: 1\nrules:\n  - id: write-only\n    effect: allow\n    syscalls: [SYS_WRITE]\n', 'write-only.yaml');
    const { value } = await report("report(raw(SYS.SYS_SIGACTION, 'SIGTERM', 'ignore'));", { kernel: kernelFor({ policy }) });
    expect(value).toEqual({ errno: 'EACCES' });
  });

  it("records each call as allowed by the default policy's own-processes rule", async () => {
    const { result } = await report("sys.signal.on('SIGINT', () => {}); sys.signal.reset('SIGINT'); report(0);", { agentId: 'who' });
    expect(syscallRecords(result.kernel, 'SYS_SIGACTION').map((r) => [r.effect, r.rule, r.agentId, r.access])).toEqual([
      ['allow', 'own-processes', 'who', 'write'],
      ['allow', 'own-processes', 'who', 'write'],
    ]);
  });
});
