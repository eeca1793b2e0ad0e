/**
 * backendConformance is the suite every VfsBackend must pass. `make` returns
 * a fresh, empty backend each time; paths are absolute within the backend
 * (`/` is its root) and already normalised, as the VFS hands them over.
 * Errors must be KernelError values carrying the POSIX errno. A backend may
 * answer at once or with a promise (MaybePromise), so every call is awaited;
 * an error may be thrown or be the promise's rejection.
 */
import { describe, expect, it } from 'vitest';
import { KernelError } from '../../abi/errno.ts';
import type { BackendFile, OpenMode, VfsBackend } from '../../vfs/backend.ts';

const MODES: readonly OpenMode[] = ['r', 'r+', 'w', 'w+', 'a', 'a+'];
const CREATING: readonly OpenMode[] = ['w', 'w+', 'a', 'a+'];

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const textOf = (data: Uint8Array): string => new TextDecoder().decode(data);

/** errnoOf returns the errno of the KernelError `fn` throws or rejects with, 'ok' if it returns, and fails on any other error. */
export async function errnoOf(fn: () => unknown): Promise<string> {
  try {
    await fn();
    return 'ok';
  } catch (err) {
    expect(err, 'backends throw only KernelError').toBeInstanceOf(KernelError);
    return (err as KernelError).errno;
  }
}

/** errnosOf runs each call in turn and lists their errnos. */
async function errnosOf(...fns: (() => unknown)[]): Promise<string[]> {
  const out: string[] = [];
  for (const fn of fns) out.push(await errnoOf(fn));
  return out;
}

async function writeFile(backend: VfsBackend, path: string, text: string): Promise<void> {
  const file = await backend.open(path, 'w');
  await file.write(bytes(text), 0);
  await file.close();
}

async function readFile(backend: VfsBackend, path: string): Promise<string> {
  const file = await backend.open(path, 'r');
  const out = textOf(await file.read(await file.size(), 0));
  await file.close();
  return out;
}

async function withFile<T>(backend: VfsBackend, path: string, mode: OpenMode, use: (file: BackendFile) => T | Promise<T>): Promise<T> {
  const file = await backend.open(path, mode);
  try {
    return await use(file);
  } finally {
    await file.close();
  }
}

export function backendConformance(name: string, make: () => VfsBackend): void {
  describe(`VfsBackend conformance: ${name}`, () => {
    describe('stat and readdir', () => {
      it('a fresh backend is an empty root directory', async () => {
        const b = make();
        expect((await b.stat('/')).type).toBe('dir');
        expect(await b.readdir('/')).toEqual([]);
        expect(typeof b.kind).toBe('string');
      });

      it('stat describes files and directories', async () => {
        const b = make();
        await b.mkdir('/d', false);
        await writeFile(b, '/d/f', 'héllo');
        const file = await b.stat('/d/f');
        expect([file.type, file.size]).toEqual(['file', 6]);
        expect(Number.isFinite(file.mtimeMs)).toBe(true);
        expect((await b.stat('/d')).type).toBe('dir');
      });

      it('readdir lists names and types of direct children only', async () => {
        const b = make();
        await b.mkdir('/d/sub/deeper', true);
        await writeFile(b, '/d/b', '');
        await writeFile(b, '/d/a', '');
        const entries = (await b.readdir('/d')).toSorted((x, y) => x.name.localeCompare(y.name));
        expect(entries).toEqual([{ name: 'a', type: 'file' }, { name: 'b', type: 'file' }, { name: 'sub', type: 'dir' }]);
      });

      it('ENOENT for missing paths, ENOTDIR through or on a file', async () => {
        const b = make();
        await writeFile(b, '/f', 'x');
        expect(await errnosOf(() => b.stat('/missing'), () => b.readdir('/missing'), () => b.stat('/no/deeper'))).toEqual(['ENOENT', 'ENOENT', 'ENOENT']);
        expect(await errnosOf(() => b.readdir('/f'), () => b.stat('/f/x'))).toEqual(['ENOTDIR', 'ENOTDIR']);
      });
    });

    describe('mkdir', () => {
      it('creates one directory when its parent exists', async () => {
        const b = make();
        await b.mkdir('/d', false);
        await b.mkdir('/d/e', false);
        expect((await b.stat('/d/e')).type).toBe('dir');
      });

      it('without recursive: ENOENT for a missing parent, EEXIST for an existing directory or file', async () => {
        const b = make();
        await b.mkdir('/d', false);
        await writeFile(b, '/f', 'x');
        expect(await errnosOf(() => b.mkdir('/x/y', false), () => b.mkdir('/d', false), () => b.mkdir('/f', false), () => b.mkdir('/', false))).toEqual(['ENOENT', 'EEXIST', 'EEXIST', 'EEXIST']);
        expect(await errnoOf(() => b.stat('/x'))).toBe('ENOENT');
      });

      it('recursive creates every missing parent and accepts an existing directory', async () => {
        const b = make();
        await b.mkdir('/a/b/c', true);
        await writeFile(b, '/a/b/keep', 'x');
        await b.mkdir('/a/b', true);
        await b.mkdir('/', true);
        expect([(await b.stat('/a')).type, (await b.stat('/a/b')).type, (await b.stat('/a/b/c')).type]).toEqual(['dir', 'dir', 'dir']);
        expect(await readFile(b, '/a/b/keep')).toBe('x');
      });

      it('ENOTDIR when a parent is a file, with or without recursive', async () => {
        const b = make();
        await writeFile(b, '/f', 'x');
        expect(await errnosOf(() => b.mkdir('/f/d', false), () => b.mkdir('/f/d/e', true))).toEqual(['ENOTDIR', 'ENOTDIR']);
      });
    });

    describe('unlink', () => {
      it('removes a file and an empty directory', async () => {
        const b = make();
        await writeFile(b, '/f', 'x');
        await b.mkdir('/d', false);
        await b.unlink('/f');
        await b.unlink('/d');
        expect(await errnosOf(() => b.stat('/f'), () => b.stat('/d'))).toEqual(['ENOENT', 'ENOENT']);
        expect(await b.readdir('/')).toEqual([]);
      });

      it('ENOTEMPTY for a directory with entries, ENOENT for a missing path, ENOTDIR through a file', async () => {
        const b = make();
        await b.mkdir('/d', false);
        await writeFile(b, '/d/f', 'x');
        expect(await errnosOf(() => b.unlink('/d'), () => b.unlink('/missing'), () => b.unlink('/d/f/x'))).toEqual(['ENOTEMPTY', 'ENOENT', 'ENOTDIR']);
        expect(await readFile(b, '/d/f')).toBe('x');
      });
    });

    describe('open', () => {
      it("'r' and 'r+' need an existing file: ENOENT otherwise, and nothing is created", async () => {
        const b = make();
        expect(await errnosOf(() => b.open('/f', 'r'), () => b.open('/f', 'r+'))).toEqual(['ENOENT', 'ENOENT']);
        expect(await b.readdir('/')).toEqual([]);
      });

      it.each(CREATING)("'%s' creates a missing file, empty", async (mode) => {
        const b = make();
        await withFile(b, '/f', mode, async (file) => expect(await file.size()).toBe(0));
        expect(await b.stat('/f')).toMatchObject({ type: 'file', size: 0 });
      });

      it.each([['r', 'content'], ['r+', 'content'], ['a', 'content'], ['a+', 'content'], ['w', ''], ['w+', '']] as const)("'%s' on an existing file leaves %j", async (mode, left) => {
        const b = make();
        await writeFile(b, '/f', 'content');
        await withFile(b, '/f', mode, () => undefined);
        expect(await readFile(b, '/f')).toBe(left);
      });

      it.each(MODES)("'%s' on a directory is EISDIR", async (mode) => {
        const b = make();
        await b.mkdir('/d', false);
        expect(await errnosOf(() => b.open('/d', mode), () => b.open('/', mode))).toEqual(['EISDIR', 'EISDIR']);
      });

      it.each(MODES)("'%s' below a file is ENOTDIR, below a missing directory ENOENT", async (mode) => {
        const b = make();
        await writeFile(b, '/f', 'x');
        expect(await errnosOf(() => b.open('/f/x', mode), () => b.open('/missing/x', mode))).toEqual(['ENOTDIR', 'ENOENT']);
      });
    });

    describe('read, write, size and close', () => {
      it('read takes an explicit position and length; past the end it returns empty', async () => {
        const b = make();
        await writeFile(b, '/f', 'hello world');
        await withFile(b, '/f', 'r', async (file) => {
          expect(textOf(await file.read(5, 0))).toBe('hello');
          expect(textOf(await file.read(3, 6))).toBe('wor');
          expect(textOf(await file.read(100, 6))).toBe('world');
          expect((await file.read(10, 11)).byteLength).toBe(0);
          expect((await file.read(10, 1000)).byteLength).toBe(0);
          expect((await file.read(0, 0)).byteLength).toBe(0);
          expect(await file.read(1, 0)).toBeInstanceOf(Uint8Array);
        });
      });

      it('write at a position overwrites in place and returns the bytes written', async () => {
        const b = make();
        await writeFile(b, '/f', 'hello world');
        await withFile(b, '/f', 'r+', async (file) => {
          expect(await file.write(bytes('WORLD'), 6)).toBe(5);
          expect(await file.write(bytes('J'), 0)).toBe(1);
          expect(await file.size()).toBe(11);
        });
        expect(await readFile(b, '/f')).toBe('Jello WORLD');
      });

      it('write past the end extends the file with zero bytes', async () => {
        const b = make();
        await withFile(b, '/f', 'w+', async (file) => {
          expect(await file.write(bytes('ab'), 3)).toBe(2);
          expect(await file.size()).toBe(5);
          expect(Array.from(await file.read(10, 0))).toEqual([0, 0, 0, 97, 98]);
        });
      });

      it("'a' and 'a+' keep the content and append when written at size()", async () => {
        const b = make();
        await writeFile(b, '/f', 'one');
        await withFile(b, '/f', 'a', async (file) => file.write(bytes(' two'), await file.size()));
        await withFile(b, '/f', 'a+', async (file) => {
          await file.write(bytes(' three'), await file.size());
          expect(textOf(await file.read(3, 0))).toBe('one');
        });
        expect(await readFile(b, '/f')).toBe('one two three');
      });

      it('w+ reads back what it wrote; size follows writes', async () => {
        const b = make();
        await withFile(b, '/f', 'w+', async (file) => {
          await file.write(bytes('abc'), 0);
          expect(await file.size()).toBe(3);
          await file.write(bytes('defg'), 3);
          expect(await file.size()).toBe(7);
          expect(textOf(await file.read(7, 0))).toBe('abcdefg');
        });
        expect((await b.stat('/f')).size).toBe(7);
      });

      it('stores bytes exactly, including NUL and non-UTF-8 bytes', async () => {
        const b = make();
        const data = new Uint8Array([0, 1, 127, 128, 254, 255]);
        await withFile(b, '/f', 'w', (file) => file.write(data, 0));
        expect(Array.from(await withFile(b, '/f', 'r', (file) => file.read(100, 0)))).toEqual(Array.from(data));
      });

      it('data survives close; two open handles share the same file', async () => {
        const b = make();
        const writer = await b.open('/f', 'w');
        const reader = await b.open('/f', 'r');
        await writer.write(bytes('shared'), 0);
        expect(textOf(await reader.read(100, 0))).toBe('shared');
        await writer.close();
        await reader.close();
        expect(await readFile(b, '/f')).toBe('shared');
      });

      it('a closed file refuses I/O with EBADF', async () => {
        const b = make();
        const file = await b.open('/f', 'w+');
        await file.close();
        expect(await errnosOf(() => file.read(1, 0), () => file.write(bytes('x'), 0), () => file.size())).toEqual(['EBADF', 'EBADF', 'EBADF']);
      });
    });

    it('two backends never share storage', async () => {
      const one = make();
      const two = make();
      await writeFile(one, '/f', 'mine');
      await one.mkdir('/d', false);
      expect(await errnosOf(() => two.stat('/f'), () => two.stat('/d'))).toEqual(['ENOENT', 'ENOENT']);
      expect(await two.readdir('/')).toEqual([]);
    });
  });
}

/**
 * backendQuota is the quota suite every backend that keeps a quota must
 * pass: `make` returns a fresh, empty backend bounded by `quota`. Growth past
 * either bound is ENOSPC and changes nothing; removal and truncation give
 * the room back; rewriting bytes in place costs nothing.
 */
export function backendQuota(name: string, make: (quota: { bytes: number; inodes: number }) => VfsBackend): void {
  describe(`${name} backend quota`, () => {
    it('a write past the bytes quota is ENOSPC and leaves the file as it was; rewriting in place costs nothing', async () => {
      const b = make({ bytes: 10, inodes: 10 });
      const file = await b.open('/f', 'w');
      expect(await file.write(bytes('12345678'), 0)).toBe(8);
      expect(await errnoOf(() => file.write(bytes('abc'), 8))).toBe('ENOSPC');
      expect(await errnoOf(() => file.write(bytes('x'), 20))).toBe('ENOSPC');
      expect(await file.write(bytes('ABCDEFGH'), 0)).toBe(8);
      expect(await file.write(bytes('ij'), 8)).toBe(2);
      await file.close();
      expect((await b.stat('/f')).size).toBe(10);
      expect(await readFile(b, '/f')).toBe('ABCDEFGHij');
    });

    it('files and directories past the inode quota are ENOSPC; mkdir -p creates all or none', async () => {
      const b = make({ bytes: 100, inodes: 3 });
      await b.mkdir('/a', false);
      await writeFile(b, '/a/x', '');
      // Two more would be needed for /b/c, one is left: none is made.
      expect(await errnoOf(() => b.mkdir('/b/c', true))).toBe('ENOSPC');
      expect(await errnoOf(() => b.stat('/b'))).toBe('ENOENT');
      await writeFile(b, '/a/y', '');
      expect(await errnosOf(() => b.mkdir('/c', false), () => b.open('/a/z', 'w'))).toEqual(['ENOSPC', 'ENOSPC']);
    });

    it('a file unlinked while open is charged as long as its data lives: until its last handle closes, or at once where the handle dies with it', async () => {
      const b = make({ bytes: 10, inodes: 10 });
      const file = await b.open('/f', 'w');
      await file.write(bytes('01234567'), 0);
      await b.unlink('/f');
      // memfs keeps an unlinked file's data for its open handles; Redis drops it (the handle then answers ENOENT).
      const handleLives = (await errnoOf(() => file.write(bytes('x'), 0))) !== 'ENOENT';
      const other = await b.open('/g', 'w');
      expect(await errnoOf(() => other.write(bytes('0123456789'), 0))).toBe(handleLives ? 'ENOSPC' : 'ok');
      await file.close();
      expect(await other.write(bytes('0123456789'), 0)).toBe(10);
      await other.close();
    });

    it('unlink and truncation give the room back', async () => {
      const b = make({ bytes: 10, inodes: 2 });
      await writeFile(b, '/a', '0123456789');
      await writeFile(b, '/a', '');
      await writeFile(b, '/b', '0123456789');
      expect(await errnoOf(() => b.open('/c', 'w'))).toBe('ENOSPC');
      await b.unlink('/b');
      await writeFile(b, '/c', '0123456789');
      expect((await b.stat('/c')).size).toBe(10);
    });
  });
}
