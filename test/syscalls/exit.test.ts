import { describe, expect, it } from 'vitest';
import { log, report, run, syscallRecords } from './harness.ts';

describe('SYS_EXIT', () => {
  it.each([0, 1, 7, 128, 255])('exit(%i) ends the process with that status at once', async (code) => {
    const result = await run(`console.log('before'); sys.exit(${code}); console.log('after');`);
    expect(result.exit.status).toBe(code);
    expect(result.exit.reason).toEqual({ kind: 'exit' });
    expect(result.stdout).toBe('before\n');
    expect(result.stderr).toBe('');
  });

  it('sys.exit() with no code exits 0', async () => {
    const result = await run("sys.exit(); console.log('after');");
    expect(result.exit.status).toBe(0);
    expect(result.stdout).toBe('');
  });

  it('the raw syscall stops the process too, even inside try/finally and loops', async () => {
    const result = await run(`
      try {
        for (;;) syscall(SYS.SYS_EXIT, 42);
      } finally {
        console.log('finally');
      }
    `);
    expect(result.exit.status).toBe(42);
    expect(result.stdout).toBe('');
  });

  it('exit after an await still ends the process', async () => {
    const result = await run("await Promise.resolve(); await null; sys.exit(9); console.log('after');");
    expect(result.exit.status).toBe(9);
    expect(result.stdout).toBe('');
  });

  it('EINVAL for codes outside 0..255 and malformed arguments; the process keeps running', async () => {
    const { value, result } = await report(`
      report([
        raw(SYS.SYS_EXIT, 256),
        raw(SYS.SYS_EXIT, -1),
        raw(SYS.SYS_EXIT, 1.5),
        raw(SYS.SYS_EXIT, '3'),
        raw(SYS.SYS_EXIT, null),
        raw(SYS.SYS_EXIT, NaN),
        raw(SYS.SYS_EXIT, 2 ** 31),
        raw(SYS.SYS_EXIT),
        raw(SYS.SYS_EXIT, 0, 'extra'),
      ]);
    `);
    expect(value).toEqual(Array.from({ length: 9 }, () => ({ errno: 'EINVAL' })));
    expect(result.exit.status).toBe(0);
  });

  it('sys.exit(256) throws EINVAL; uncaught, the process dies with status 1', async () => {
    const result = await run('sys.exit(256);');
    expect(result.exit.status).toBe(1);
    expect(result.exit.reason).toMatchObject({ kind: 'error' });
    expect(result.exit.reason.kind === 'error' && result.exit.reason.error).toMatch(/^SyscallError: argument 'code' must be between 0 and 255/);
  });

  it('a program that returns exits 0; one that throws exits 1', async () => {
    const ok = await run('console.log(1);');
    const thrown = await run("throw new Error('boom');");
    expect([ok.exit.status, thrown.exit.status]).toEqual([0, 1]);
    expect(thrown.exit.reason.kind === 'error' && thrown.exit.reason.error).toMatch(/Error: boom/);
  });

  it('closes the open files of the exiting process', async () => {
    const result = await run("sys.open('mem/a', 'w'); sys.open('mem/b', 'w'); sys.exit(3);");
    expect(result.exit.status).toBe(3);
    expect(result.kernel.get(result.exit.pid)).toBeUndefined();
    const tree = result.kernel.vfs(result.exit.agentId);
    expect((await tree.stat(`${tree.root}/mem/a`)).type).toBe('file');
  });

  it('records the exit syscall, then the lifecycle exit with the status', async () => {
    const result = await run('sys.exit(7);', { agentId: 'leaver' });
    const calls = syscallRecords(result.kernel, 'SYS_EXIT');
    expect(calls.map((r) => [r.effect, r.rule, r.agentId, r.pid])).toEqual([['allow', 'own-fds-and-self', 'leaver', result.exit.pid]]);
    const all = log(result.kernel);
    const last = all[all.length - 1];
    expect(last).toMatchObject({ type: 'exit', pid: result.exit.pid, agentId: 'leaver', detail: 'status 7' });
    expect(last?.seq).toBe((calls[0]?.seq ?? 0) + 1);
    expect(all.filter((r) => r.type === 'exit')).toHaveLength(1);
  });
});
