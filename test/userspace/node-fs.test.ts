// fs, fs/promises and the fs callback forms in a real isolate over a fake file system.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildNodeBundle, NodeIsolate } from './node-harness.ts';

let vm: NodeIsolate;
beforeAll(async () => {
  vm = new NodeIsolate(await buildNodeBundle());
});
afterAll(() => vm.dispose());

describe('fs (sync)', () => {
  it('round-trips text, bytes and encodings', async () => {
    const out = await vm.run(`
      const fs = load('fs');
      fs.writeFileSync('notes.txt', 'héllo');
      fs.appendFileSync('/agent/a1/notes.txt', ' world');
      const { Buffer } = load('buffer');
      fs.writeFileSync('bin.dat', Buffer.from([0, 255, 16]));
      fs.writeFileSync('b64.txt', 'aGk=', 'base64');
      return {
        text: fs.readFileSync('notes.txt', 'utf8'),
        isBuffer: Buffer.isBuffer(fs.readFileSync('notes.txt')),
        hex: fs.readFileSync('bin.dat', 'hex'),
        latin1: fs.readFileSync('bin.dat', { encoding: 'latin1' }).length,
        b64: fs.readFileSync('b64.txt', 'utf-8'),
        base64: fs.readFileSync('bin.dat').toString('base64'),
        exists: [fs.existsSync('notes.txt'), fs.existsSync('nope')],
      };
    `);
    expect(out).toEqual({ text: 'héllo world', isBuffer: true, hex: '00ff10', latin1: 3, b64: 'hi', base64: 'AP8Q', exists: [true, false] });
  });

  it('stats, lists, makes and removes directories', async () => {
    const out = await vm.run(`
      const fs = load('fs');
      const first = fs.mkdirSync('a/b/c', { recursive: true });
      fs.writeFileSync('a/b/c/f.txt', '12345');
      fs.writeFileSync('a/top.txt', 'x');
      const st = fs.statSync('a/b/c/f.txt');
      const dirents = fs.readdirSync('a', { withFileTypes: true }).map((d) => [d.name, d.isDirectory(), d.isFile()]);
      const deep = fs.readdirSync('a', { recursive: true });
      let rmdirErr;
      try { fs.rmdirSync('a'); } catch (e) { rmdirErr = e.code; }
      fs.rmSync('a', { recursive: true });
      fs.rmSync('a', { force: true });
      return {
        first, file: st.isFile(), dir: st.isDirectory(), size: st.size, mtime: st.mtime instanceof Date && st.mtime.getTime() === st.mtimeMs,
        lstat: fs.lstatSync('/agent/a1').isDirectory(), noEntry: fs.statSync('gone', { throwIfNoEntry: false }),
        dirents, deep, rmdirErr, gone: fs.existsSync('a'), list: fs.readdirSync('.'),
      };
    `);
    expect(out).toEqual({
      first: '/agent/a1/a', file: true, dir: false, size: 5, mtime: true, lstat: true,
      dirents: [['b', true, false], ['top.txt', false, true]],
      deep: ['b', 'b/c', 'b/c/f.txt', 'top.txt'], rmdirErr: 'ENOTEMPTY', gone: false, list: ['b64.txt', 'bin.dat', 'notes.txt'],
    });
  });

  it('throws errors shaped like Node (code, errno, syscall, path, message)', async () => {
    const out = await vm.run(`
      const fs = load('fs');
      const shape = (fn) => { try { fn(); } catch (e) { return { instance: e instanceof Error, code: e.code, errno: e.errno, syscall: e.syscall, path: e.path, message: e.message, reason: e.reason }; } return null; };
      return {
        enoent: shape(() => fs.readFileSync('/x')),
        stat: shape(() => fs.statSync('missing')),
        scandir: shape(() => fs.readdirSync('notes.txt')),
        eexist: shape(() => fs.mkdirSync('/agent/a1')),
        excl: shape(() => fs.writeFileSync('notes.txt', 'x', { flag: 'wx' })),
        eisdir: shape(() => fs.unlinkSync('/agent')),
        eacces: shape(() => fs.writeFileSync('/etc/locked', 'x')),
        rename: shape(() => fs.renameSync('notes.txt', 'n2.txt')),
      };
    `);
    expect(out).toMatchObject({
      enoent: { instance: true, code: 'ENOENT', errno: -2, syscall: 'open', path: '/x', message: "ENOENT: no such file or directory, open '/x'" },
      stat: { code: 'ENOENT', syscall: 'stat', path: 'missing', message: "ENOENT: no such file or directory, stat 'missing'" },
      scandir: { code: 'ENOTDIR', errno: -20, syscall: 'scandir', message: "ENOTDIR: not a directory, scandir 'notes.txt'" },
      eexist: { code: 'EEXIST', errno: -17, syscall: 'mkdir', message: "EEXIST: file already exists, mkdir '/agent/a1'" },
      excl: { code: 'EEXIST', syscall: 'open' },
      eisdir: { code: 'EISDIR', errno: -21, syscall: 'unlink' },
      eacces: { code: 'EACCES', errno: -13, syscall: 'open', message: "EACCES: permission denied, open '/etc/locked'", reason: 'policy rule etc.readonly denies writing /etc/locked' },
      rename: { code: 'ENOSYS', errno: -38, syscall: 'rename' },
    });
    expect((out as { rename: { message: string } }).rename.message).toMatch(/^ENOSYS: function not implemented, rename 'notes.txt' -> 'n2.txt' \(the kernel has no rename syscall/);
  });

  it('reads and writes through file descriptors', async () => {
    const out = await vm.run(`
      const fs = load('fs');
      const { Buffer } = load('buffer');
      const fd = fs.openSync('fd.txt', 'w+');
      const wrote = fs.writeSync(fd, 'abc') + fs.writeSync(fd, Buffer.from('xdefx'), 1, 3);
      fs.closeSync(fd);
      const rfd = fs.openSync('fd.txt', 'r');
      const buf = Buffer.alloc(4);
      const n1 = fs.readSync(rfd, buf, 0, 4, null);
      const first = buf.toString('utf8', 0, n1);
      const n2 = fs.readSync(rfd, buf, { offset: 0, length: 4, position: 4 });
      let seek;
      try { fs.readSync(rfd, buf, 0, 1, 0); } catch (e) { seek = e.code; }
      const size = fs.fstatSync(rfd).size;
      fs.closeSync(rfd);
      fs.copyFileSync('fd.txt', 'copy.txt');
      return { wrote, first, n2, rest: buf.toString('utf8', 0, n2), seek, size, copy: fs.readFileSync('copy.txt', 'utf8') };
    `);
    expect(out).toEqual({ wrote: 6, first: 'abcd', n2: 2, rest: 'ef', seek: 'ENOSYS', size: 6, copy: 'abcdef' });
  });
});

describe('fs callbacks and fs/promises', () => {
  it('callback forms round-trip and report errors first', async () => {
    const out = await vm.run(`
      const fs = load('fs');
      const call = (fn, ...args) => new Promise((resolve) => fn(...args, (err, value) => resolve(err ? { code: err.code, syscall: err.syscall } : value)));
      await call(fs.writeFile, 'cb.txt', 'callback');
      await call(fs.appendFile, 'cb.txt', '!');
      const text = await call(fs.readFile, 'cb.txt', 'utf8');
      const missing = await call(fs.readFile, 'missing.txt');
      const stat = await call(fs.stat, 'cb.txt');
      const exists = await new Promise((resolve) => fs.exists('cb.txt', resolve));
      return { text, missing, size: stat.size, exists };
    `);
    expect(out).toEqual({ text: 'callback!', missing: { code: 'ENOENT', syscall: 'open' }, size: 9, exists: true });
  });

  it('fs/promises (also fs.promises) over sysAsync, with a FileHandle', async () => {
    const out = await vm.run(`
      const fsp = load('node:fs/promises');
      const same = fsp === load('fs').promises;
      await fsp.mkdir('p/q', { recursive: true });
      await fsp.writeFile('p/q/a.json', JSON.stringify({ a: 1 }));
      await fsp.appendFile('p/q/a.json', '\\n');
      const data = JSON.parse(await fsp.readFile('p/q/a.json', 'utf8'));
      const names = await fsp.readdir('p/q');
      let access;
      try { await fsp.access('p/nothing'); } catch (e) { access = [e.code, e.syscall, e.message]; }
      const fh = await fsp.open('p/q/h.txt', 'w+');
      await fh.write('handle');
      await fh.close();
      const fh2 = await fsp.open('p/q/h.txt');
      const { bytesRead, buffer } = await fh2.read();
      const size = (await fh2.stat()).size;
      await fh2.close();
      await fsp.unlink('p/q/h.txt');
      await fsp.rm('p', { recursive: true });
      return { same, data, names, access, read: buffer.toString('utf8', 0, bytesRead), size, gone: await fsp.stat('p').catch((e) => e.code) };
    `);
    expect(out).toEqual({
      same: true, data: { a: 1 }, names: ['a.json'],
      access: ['ENOENT', 'access', "ENOENT: no such file or directory, access 'p/nothing'"],
      read: 'handle', size: 6, gone: 'ENOENT',
    });
  });
});
