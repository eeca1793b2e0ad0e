import { describe, expect, it } from 'vitest';
import { programFromSource } from '../../kernel/program.ts';
import { testKernel } from '../helpers.ts';
import { report, run, syscallRecords } from './harness.ts';

describe('SYS_WRITE', () => {
  it('fd 1 reaches the stdout sink and fd 2 the stderr sink, returning the bytes written', async () => {
    const result = await run(`
      const n1 = sys.write(1, 'to stdout\\n');
      const n2 = sys.write(2, 'to stderr\\n');
      const n3 = sys.write(1, 'é€😀\\n');
      sys.write(2, JSON.stringify([n1, n2, n3]));
    `);
    expect(result.exit.status).toBe(0);
    expect(result.stdout).toBe('to stdout\né€😀\n');
    expect(result.stderr).toBe('to stderr\n[10,10,10]');
  });

  it('writes bytes from a Uint8Array, only the bytes of a subarray view', async () => {
    const result = await run(`
      const all = new Uint8Array([65, 66, 67, 68, 69, 70]);
      sys.write(1, all.subarray(2, 4));
      sys.write(1, new Uint8Array(0));
    `);
    expect(result.stdout).toBe('CD');
  });

  it('the kernel-wide stdout and stderr sinks receive output when spawn names none', async () => {
    const { kernel, stdout, stderr } = testKernel();
    const proc = kernel.spawn(programFromSource('sinks.js', "sys.write(1, 'out'); console.error('err');"));
    const exit = await kernel.wait(proc.pid);
    expect(exit.status).toBe(0);
    expect(stdout.text).toBe('out');
    expect(stderr.text).toBe('err\n');
  });

  it('writes to a file advance the position, so consecutive writes concatenate', async () => {
    const { value } = await report(`
      const fd = sys.open('mem/f', 'w');
      const counts = [sys.write(fd, 'one '), sys.write(fd, 'two'), sys.write(fd, '')];
      sys.close(fd);
      report({ counts, text: sys.readFile('mem/f'), size: sys.stat('mem/f').size });
    `);
    expect(value).toEqual({ counts: [4, 3, 0], text: 'one two', size: 7 });
  });

  it('append mode writes at the end even after other writers', async () => {
    const { value } = await report(`
      sys.writeFile('mem/log', 'a');
      const fd = sys.open('mem/log', 'a');
      sys.appendFile('mem/log', 'b');
      sys.write(fd, 'c');
      sys.close(fd);
      report(sys.readFile('mem/log'));
    `);
    expect(value).toBe('abc');
  });

  it('EBADF for stdin, a read-only fd, a closed fd and an fd never opened', async () => {
    const { value } = await report(`
      sys.writeFile('mem/f', 'abc');
      const ro = sys.open('mem/f', 'r');
      const closed = sys.open('mem/f', 'a');
      sys.close(closed);
      report({
        stdin: errnoOf(() => sys.write(0, 'x')),
        readOnly: errnoOf(() => sys.write(ro, 'x')),
        closed: errnoOf(() => sys.write(closed, 'x')),
        never: errnoOf(() => sys.write(1000, 'x')),
        unchanged: sys.readFile('mem/f'),
      });
    `);
    expect(value).toEqual({ stdin: 'EBADF', readOnly: 'EBADF', closed: 'EBADF', never: 'EBADF', unchanged: 'abc' });
  });

  it('EBADF for fd 1 once it is closed', async () => {
    const result = await run(`
      sys.close(1);
      console.error(JSON.stringify(raw(SYS.SYS_WRITE, 1, 'x')));
    `);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe('{"errno":"EBADF"}\n');
  });

  it('EINVAL for malformed arguments', async () => {
    const { value } = await report(`
      report([
        raw(SYS.SYS_WRITE, 1, 42),
        raw(SYS.SYS_WRITE, 1, { data: 'x' }),
        raw(SYS.SYS_WRITE, 1, [65, 66]),
        raw(SYS.SYS_WRITE, 1, null),
        raw(SYS.SYS_WRITE, 1),
        raw(SYS.SYS_WRITE, 1, new Uint8Array(new SharedArrayBuffer(4))),
        raw(SYS.SYS_WRITE, -1, 'x'),
        raw(SYS.SYS_WRITE, 1.5, 'x'),
        raw(SYS.SYS_WRITE, '1', 'x'),
        raw(SYS.SYS_WRITE, 1, 'x', 'extra'),
      ]);
    `);
    expect(value).toEqual(Array.from({ length: 10 }, () => ({ errno: 'EINVAL' })));
  });

  it('EFBIG for data over the 1 MiB limit, and nothing is written', async () => {
    const result = await run(`
      const big = 'x'.repeat(2 ** 20 + 1);
      const bytes = new Uint8Array(2 ** 20 + 1);
      console.error(JSON.stringify([raw(SYS.SYS_WRITE, 1, big), raw(SYS.SYS_WRITE, 1, bytes), raw(SYS.SYS_WRITE, 1, 'é'.repeat(2 ** 19 + 1))]));
    `);
    expect(result.stdout).toBe('');
    expect(JSON.parse(result.stderr)).toEqual([{ errno: 'EFBIG' }, { errno: 'EFBIG' }, { errno: 'EFBIG' }]);
  });

  it('records every write as a decision allowed for the caller', async () => {
    const { result } = await report(`sys.write(2, 'x'); report(1);`, { agentId: 'writer' });
    const writes = syscallRecords(result.kernel, 'SYS_WRITE');
    expect(writes.map((r) => [r.effect, r.rule, r.agentId, r.pid, r.path])).toEqual([
      ['allow', 'own-fds-and-self', 'writer', result.exit.pid, undefined],
      ['allow', 'own-fds-and-self', 'writer', result.exit.pid, undefined],
    ]);
  });
});
