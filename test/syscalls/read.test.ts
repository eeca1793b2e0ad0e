import { describe, expect, it } from 'vitest';
import { defaultPolicy } from '../../kernel/policy/default.ts';
import { report, syscallRecords } from './harness.ts';

describe('SYS_READ', () => {
  it('reads a file in chunks, advancing the position, then returns empty at end of file', async () => {
    const { value } = await report(`
      sys.writeFile('mem/working/f', 'hello world');
      const fd = sys.open('mem/working/f', 'r');
      const chunks = [text(sys.read(fd, 5)), text(sys.read(fd, 1)), text(sys.read(fd, 100))];
      const eof = [sys.read(fd, 10).length, sys.read(fd, 10).length];
      report({ chunks, eof, isBytes: sys.read(fd, 1) instanceof Uint8Array });
    `);
    expect(value).toEqual({ chunks: ['hello', ' ', 'world'], eof: [0, 0], isBytes: true });
  });

  it('returns raw bytes exactly as written, including multi-byte UTF-8', async () => {
    const { value } = await report(`
      sys.writeFile('mem/b', new Uint8Array([0, 255, 10, 128]));
      sys.writeFile('mem/u', 'é€😀');
      const fd = sys.open('mem/b', 'r');
      const u = sys.open('mem/u', 'r');
      report({ bytes: Array.from(sys.read(fd, 10)), utf8: text(sys.read(u, 100)) });
    `);
    expect(value).toEqual({ bytes: [0, 255, 10, 128], utf8: 'é€😀' });
  });

  it('reads nothing for length 0 and does not move the position', async () => {
    const { value } = await report(`
      sys.writeFile('mem/f', 'abc');
      const fd = sys.open('mem/f', 'r');
      report({ zero: sys.read(fd, 0).length, next: text(sys.read(fd, 1)) });
    `);
    expect(value).toEqual({ zero: 0, next: 'a' });
  });

  it('reads an empty file as end of file at once', async () => {
    const { value } = await report(`const fd = sys.open('mem/empty', 'w+'); report(sys.read(fd, 10).length);`);
    expect(value).toBe(0);
  });

  it('treats fd 0 (stdin) as end of file', async () => {
    const { value } = await report('report([sys.read(0, 10).length, sys.read(0).length]);');
    expect(value).toEqual([0, 0]);
  });

  it('reads the read-only policy source in force and its version', async () => {
    const { value } = await report(`report([text(sys.read(sys.open('policy/policy.yaml'), 100000)), text(sys.read(sys.open('policy/VERSION'), 100))]);`);
    expect(value).toEqual([defaultPolicy().source, `${defaultPolicy().version}\n`]);
    expect(defaultPolicy().version).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('EBADF for an fd that is not open, was closed, or is not open for reading', async () => {
    const { value } = await report(`
      sys.writeFile('mem/f', 'abc');
      const closed = sys.open('mem/f', 'r');
      sys.close(closed);
      const wOnly = sys.open('mem/f', 'w');
      const aOnly = sys.open('mem/f', 'a');
      report({
        never: errnoOf(() => sys.read(42, 1)),
        closed: errnoOf(() => sys.read(closed, 1)),
        wOnly: errnoOf(() => sys.read(wOnly, 1)),
        aOnly: errnoOf(() => sys.read(aOnly, 1)),
        stdout: errnoOf(() => sys.read(1, 1)),
        stderr: errnoOf(() => sys.read(2, 1)),
      });
    `);
    expect(value).toEqual({ never: 'EBADF', closed: 'EBADF', wOnly: 'EBADF', aOnly: 'EBADF', stdout: 'EBADF', stderr: 'EBADF' });
  });

  it('EINVAL for malformed arguments', async () => {
    const { value } = await report(`
      sys.writeFile('mem/f', 'abc');
      const fd = sys.open('mem/f', 'r');
      report([
        raw(SYS.SYS_READ, -1, 1),
        raw(SYS.SYS_READ, 1.5, 1),
        raw(SYS.SYS_READ, String(fd), 1),
        raw(SYS.SYS_READ, { fd }, 1),
        raw(SYS.SYS_READ, fd, -1),
        raw(SYS.SYS_READ, fd, 0.5),
        raw(SYS.SYS_READ, fd, '1'),
        raw(SYS.SYS_READ, fd, 2 ** 20 + 1),
        raw(SYS.SYS_READ, fd, 1, 'extra'),
        raw(SYS.SYS_READ, fd),
        raw(SYS.SYS_READ),
        raw(SYS.SYS_READ, 2 ** 20 + 1, 1),
      ]);
    `);
    expect(value).toEqual(Array.from({ length: 12 }, () => ({ errno: 'EINVAL' })));
  });

  it('a malformed read does not move the position', async () => {
    const { value } = await report(`
      sys.writeFile('mem/f', 'abc');
      const fd = sys.open('mem/f', 'r');
      raw(SYS.SYS_READ, fd, -1);
      report(text(sys.read(fd, 3)));
    `);
    expect(value).toBe('abc');
  });

  it('records every read as a decision allowed for the caller', async () => {
    const { result } = await report(`
      sys.writeFile('mem/f', 'abc');
      const fd = sys.open('mem/f', 'r');
      sys.read(fd, 1);
      errnoOf(() => sys.read(99, 1));
      report(fd);
    `, { agentId: 'reader' });
    const reads = syscallRecords(result.kernel, 'SYS_READ');
    expect(reads.map((r) => [r.effect, r.rule, r.pid, r.agentId])).toEqual([
      ['allow', 'own-fds-and-self', result.exit.pid, 'reader'],
      ['allow', 'own-fds-and-self', result.exit.pid, 'reader'],
    ]);
  });
});
