import { describe, expect, it } from 'vitest';
import { Kernel } from '../../kernel/kernel.ts';
import { expectConfined, LONG_PATH, report, syscallRecords } from './harness.ts';

describe('SYS_OPEN', () => {
  it('returns the lowest free fd, starting at 3, and reuses closed numbers', async () => {
    const { value } = await report(`
      const a = sys.open('mem/a', 'w');
      const b = sys.open('mem/b', 'w');
      const c = sys.open('mem/c', 'w');
      sys.close(b);
      const reused = sys.open('mem/d', 'w');
      const next = sys.open('mem/e', 'w');
      report([a, b, c, reused, next]);
    `);
    expect(value).toEqual([3, 4, 5, 4, 6]);
  });

  it("opens read-only by default and with 'r' reads existing content", async () => {
    const { value } = await report(`
      sys.writeFile('mem/f', 'content');
      const fd = sys.open('mem/f');
      report({ text: text(sys.read(fd, 100)), write: errnoOf(() => sys.write(fd, 'x')) });
    `);
    expect(value).toEqual({ text: 'content', write: 'EBADF' });
  });

  it("'w' creates a missing file and truncates an existing one; it is write-only", async () => {
    const { value } = await report(`
      sys.writeFile('mem/f', 'old content');
      const fd = sys.open('mem/f', 'w');
      const sizeAfterOpen = sys.stat('mem/f').size;
      sys.write(fd, 'new');
      const created = sys.open('mem/fresh', 'w');
      report({ sizeAfterOpen, read: errnoOf(() => sys.read(fd, 1)), text: sys.readFile('mem/f'), fresh: sys.stat('mem/fresh').size, created: created > fd });
    `);
    expect(value).toEqual({ sizeAfterOpen: 0, read: 'EBADF', text: 'new', fresh: 0, created: true });
  });

  it("'w+' truncates, is readable, and its reads follow its writes", async () => {
    const { value } = await report(`
      sys.writeFile('mem/f', 'old content');
      const fd = sys.open('mem/f', 'w+');
      const first = sys.read(fd, 100).length;
      sys.write(fd, 'xyz');
      const atEnd = sys.read(fd, 100).length;
      report({ first, atEnd, text: sys.readFile('mem/f') });
    `);
    expect(value).toEqual({ first: 0, atEnd: 0, text: 'xyz' });
  });

  it("'a' creates, keeps content and always writes at the end; it is write-only", async () => {
    const { value } = await report(`
      sys.writeFile('mem/log', 'one');
      const fd = sys.open('mem/log', 'a');
      sys.write(fd, ' two');
      sys.write(fd, ' three');
      sys.close(fd);
      const created = sys.open('mem/newlog', 'a');
      sys.write(created, 'x');
      report({ log: sys.readFile('mem/log'), newlog: sys.readFile('mem/newlog'), read: errnoOf(() => sys.read(created, 1)) });
    `);
    expect(value).toEqual({ log: 'one two three', newlog: 'x', read: 'EBADF' });
  });

  it("'a+' reads from the start and appends at the end", async () => {
    const { value } = await report(`
      sys.writeFile('mem/log', 'hello');
      const fd = sys.open('mem/log', 'a+');
      const head = text(sys.read(fd, 2));
      sys.write(fd, '!');
      report({ head, text: sys.readFile('mem/log') });
    `);
    expect(value).toEqual({ head: 'he', text: 'hello!' });
  });

  it("'r+' keeps content and writes at the current position", async () => {
    const { value } = await report(`
      sys.writeFile('mem/f', 'hello world');
      const fd = sys.open('mem/f', 'r+');
      const head = text(sys.read(fd, 6));
      const n = sys.write(fd, 'WORLD');
      const tail = sys.read(fd, 10).length;
      report({ head, n, tail, text: sys.readFile('mem/f') });
    `);
    expect(value).toEqual({ head: 'hello ', n: 5, tail: 0, text: 'hello WORLD' });
  });

  it("ENOENT for 'r' and 'r+' on a missing file, for a missing parent in every mode, and for an empty path", async () => {
    const { value } = await report(`
      report({
        r: errnoOf(() => sys.open('mem/missing', 'r')),
        rPlus: errnoOf(() => sys.open('mem/missing', 'r+')),
        parent: ['r', 'r+', 'w', 'w+', 'a', 'a+'].map((m) => errnoOf(() => sys.open('mem/no-dir/f', m))),
        empty: errnoOf(() => sys.open('', 'w')),
        notCreated: errnoOf(() => sys.stat('mem/missing')),
      });
    `);
    expect(value).toEqual({ r: 'ENOENT', rPlus: 'ENOENT', parent: Array(6).fill('ENOENT'), empty: 'ENOENT', notCreated: 'ENOENT' });
  });

  it('EISDIR for a directory, the tree root and the policy mount in every mode', async () => {
    const { value } = await report(`
      const modes = ['r', 'r+', 'w', 'w+', 'a', 'a+'];
      report({ dir: modes.map((m) => errnoOf(() => sys.open('mem/working', m))), root: errnoOf(() => sys.open('.', 'r')), policy: errnoOf(() => sys.open('policy', 'r')) });
    `);
    expect(value).toEqual({ dir: Array(6).fill('EISDIR'), root: 'EISDIR', policy: 'EISDIR' });
  });

  it('ENOTDIR when a parent is a file', async () => {
    const { value } = await report(`sys.writeFile('mem/f', 'x'); report([errnoOf(() => sys.open('mem/f/g', 'w')), errnoOf(() => sys.open('mem/f/g', 'r'))]);`);
    expect(value).toEqual(['ENOTDIR', 'ENOTDIR']);
  });

  it("EROFS for every writing mode under policy/, while 'r' works", async () => {
    const { value } = await report(`
      const modes = ['r+', 'w', 'w+', 'a', 'a+'];
      report({
        existing: modes.map((m) => errnoOf(() => sys.open('policy/policy.yaml', m))),
        fresh: modes.map((m) => errnoOf(() => sys.open('policy/new', m))),
        read: errnoOf(() => sys.open('policy/VERSION', 'r')),
        absent: errnoOf(() => sys.stat('policy/new')),
      });
    `);
    expect(value).toEqual({ existing: Array(5).fill('EROFS'), fresh: Array(5).fill('EROFS'), read: 'ok', absent: 'ENOENT' });
  });

  it('EACCES for paths outside the agent tree, recorded as denied, creating nothing', async () => {
    await expectConfined('SYS_OPEN', "(p) => sys.open(p, 'r')");
    const kernel = await expectConfined('SYS_OPEN', "(p) => sys.open(p, 'w')");
    expect(() => kernel.vfs('b').stat('/agent/b/mem/x')).toThrow(expect.objectContaining({ errno: 'ENOENT' }));
  });

  it('EMFILE when the fd table is full; closing an fd makes room again', async () => {
    const kernel = new Kernel({ maxOpenFiles: 5 });
    const { value, result } = await report(`
      const fds = [];
      let err = 'ok';
      while (err === 'ok' && fds.length < 10) err = errnoOf(() => fds.push(sys.open('mem/f' + fds.length, 'w')));
      const created = errnoOf(() => sys.stat('mem/f2'));
      sys.close(fds[0]);
      report({ fds, err, created, again: sys.open('mem/h', 'w') });
    `, { kernel });
    expect(value).toEqual({ fds: [3, 4], err: 'EMFILE', created: 'ENOENT', again: 3 });
    expect(syscallRecords(result.kernel, 'SYS_OPEN').every((r) => r.effect === 'allow')).toBe(true);
  });

  it('EINVAL for malformed arguments; ENAMETOOLONG for an over-long path', async () => {
    const { value } = await report(`
      report([
        raw(SYS.SYS_OPEN, 'mem/f', 'rw'),
        raw(SYS.SYS_OPEN, 'mem/f', 'x'),
        raw(SYS.SYS_OPEN, 'mem/f', 'R'),
        raw(SYS.SYS_OPEN, 'mem/f', { flags: 'w' }),
        raw(SYS.SYS_OPEN, 'mem/f', 0),
        raw(SYS.SYS_OPEN, 'mem/f'),
        raw(SYS.SYS_OPEN, 42, 'w'),
        raw(SYS.SYS_OPEN, { path: 'mem/f' }, 'w'),
        raw(SYS.SYS_OPEN, ['mem/f'], 'w'),
        raw(SYS.SYS_OPEN, 'mem/f\\0.txt', 'w'),
        raw(SYS.SYS_OPEN, 'mem/f', 'w', 'extra'),
        raw(SYS.SYS_OPEN, ${JSON.stringify(LONG_PATH)}, 'w'),
        errnoOf(() => sys.stat('mem/f')),
      ]);
    `);
    expect(value).toEqual([...Array.from({ length: 11 }, () => ({ errno: 'EINVAL' })), { errno: 'ENAMETOOLONG' }, 'ENOENT']);
  });

  it('records each open with its resolved path and the rule that allowed it', async () => {
    const { result } = await report(`sys.open('mem/working/../x', 'w'); sys.open('/agent/a/mem/x', 'r'); report(0);`, { agentId: 'a' });
    expect(syscallRecords(result.kernel, 'SYS_OPEN').map((r) => [r.effect, r.rule, r.path, r.agentId])).toEqual([
      ['allow', 'own-tree', '/agent/a/mem/x', 'a'],
      ['allow', 'own-tree', '/agent/a/mem/x', 'a'],
    ]);
  });
});
