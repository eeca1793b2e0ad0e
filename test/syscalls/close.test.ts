import { describe, expect, it } from 'vitest';
import { programFromSource } from '../../kernel/program.ts';
import { testKernel } from '../helpers.ts';
import { report, run, syscallRecords } from './harness.ts';

describe('SYS_CLOSE', () => {
  it('returns 0 and makes the fd unusable for read, write and close', async () => {
    const { value } = await report(`
      const fd = sys.open('mem/f', 'w+');
      const closed = raw(SYS.SYS_CLOSE, fd);
      report({ closed, read: errnoOf(() => sys.read(fd, 1)), write: errnoOf(() => sys.write(fd, 'x')), again: errnoOf(() => sys.close(fd)) });
    `);
    expect(value).toEqual({ closed: { v: 0 }, read: 'EBADF', write: 'EBADF', again: 'EBADF' });
  });

  it('keeps what was written before the close', async () => {
    const { value } = await report(`
      const fd = sys.open('mem/f', 'w');
      sys.write(fd, 'kept');
      sys.close(fd);
      report(sys.readFile('mem/f'));
    `);
    expect(value).toBe('kept');
  });

  it('frees the number for the next open (lowest free fd)', async () => {
    const { value } = await report(`
      const a = sys.open('mem/a', 'w');
      const b = sys.open('mem/b', 'w');
      sys.close(a);
      sys.close(b);
      report([a, b, sys.open('mem/c', 'w'), sys.open('mem/d', 'w')]);
    `);
    expect(value).toEqual([3, 4, 3, 4]);
  });

  it('may close fds 0, 1 and 2; a closed fd 1 is reused by open and console.log then writes to the file', async () => {
    const result = await run(`
      sys.close(0);
      sys.close(1);
      const stdinGone = errnoOf(() => sys.read(0, 1));
      const logGone = errnoOf(() => console.log('lost'));
      const first = sys.open('mem/a', 'w');
      const second = sys.open('mem/out', 'w');
      console.log('into the file');
      sys.close(second);
      console.error(JSON.stringify({ stdinGone, logGone, first, second, file: sys.readFile('mem/out') }));
      sys.close(2);
      console.error('not shown');
    `);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(`${JSON.stringify({ stdinGone: 'EBADF', logGone: 'EBADF', first: 0, second: 1, file: 'into the file\n' })}\n`);
    expect(result.exit.status).toBe(1);
    expect(result.exit.reason).toMatchObject({ kind: 'error' });
  });

  it('EBADF for an fd that was never opened', async () => {
    const { value } = await report('report([errnoOf(() => sys.close(3)), errnoOf(() => sys.close(2 ** 20))]);');
    expect(value).toEqual(['EBADF', 'EBADF']);
  });

  it('EINVAL for malformed arguments', async () => {
    const { value } = await report(`
      report([
        raw(SYS.SYS_CLOSE, -1),
        raw(SYS.SYS_CLOSE, 3.5),
        raw(SYS.SYS_CLOSE, '3'),
        raw(SYS.SYS_CLOSE, { fd: 3 }),
        raw(SYS.SYS_CLOSE, null),
        raw(SYS.SYS_CLOSE),
        raw(SYS.SYS_CLOSE, 2 ** 20 + 1),
        raw(SYS.SYS_CLOSE, Infinity),
        raw(SYS.SYS_CLOSE, 1, 2),
      ]);
    `);
    expect(value).toEqual(Array.from({ length: 9 }, () => ({ errno: 'EINVAL' })));
  });

  it('a malformed close leaves the fd open', async () => {
    const { value } = await report(`const fd = sys.open('mem/f', 'w'); raw(SYS.SYS_CLOSE, fd, 'extra'); report(sys.write(fd, 'ok'));`);
    expect(value).toBe(2);
  });

  it('every open file is closed when the process exits', async () => {
    const { kernel } = testKernel();
    const proc = kernel.spawn(programFromSource('leak.js', "for (let i = 0; i < 5; i++) sys.open('mem/f' + i, 'w');"));
    const exit = await kernel.wait(proc.pid);
    expect(exit.status).toBe(0);
    expect(proc.fds?.size).toBe(0);
    expect(proc.info().openFds).toBe(0);
  });

  it('records every close as a decision allowed for the caller', async () => {
    const { result } = await report(`const fd = sys.open('mem/f', 'w'); sys.close(fd); errnoOf(() => sys.close(fd)); report(0);`, { agentId: 'closer' });
    expect(syscallRecords(result.kernel, 'SYS_CLOSE').map((r) => [r.effect, r.rule, r.agentId, r.pid])).toEqual([
      ['allow', 'own-fds-and-self', 'closer', result.exit.pid],
      ['allow', 'own-fds-and-self', 'closer', result.exit.pid],
    ]);
  });
});
