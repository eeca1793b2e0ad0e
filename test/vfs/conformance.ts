/**
 * backendConformance is the suite every VfsBackend must pass. `make` returns
 * a fresh, empty backend each time; paths are absolute within the backend
 * (`/` is its root) and already normalised, as the VFS hands them over.
 * Errors must be KernelError values carrying the POSIX errno.
 */
import { describe, expect, it } from 'vitest';
import { KernelError } from '../../syscalls/errno.ts';
import type { BackendFile, OpenMode, VfsBackend } from '../../vfs/backend.ts';

const MODES: readonly OpenMode[] = ['r', 'r+', 'w', 'w+', 'a', 'a+'];
const CREATING: readonly OpenMode[] = ['w', 'w+', 'a', 'a+'];

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const textOf = (data: Uint8Array): string => new TextDecoder().decode(data);

/** errnoOf returns the errno of the KernelError `fn` throws, 'ok' if it returns, and fails on any other throw. */
function errnoOf(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (err) {
    expect(err, 'backends throw only KernelError').toBeInstanceOf(KernelError);
    return (err as KernelError).errno;
  }
}

function writeFile(backend: VfsBackend, path: string, text: string): void {
  const file = backend.open(path, 'w');
  file.write(bytes(text), 0);
  file.close();
}

function readFile(backend: VfsBackend, path: string): string {
  const file = backend.open(path, 'r');
  const out = textOf(file.read(file.size(), 0));
  file.close();
  return out;
}

function withFile<T>(backend: VfsBackend, path: string, mode: OpenMode, use: (file: BackendFile) => T): T {
  const file = backend.open(path, mode);
  try {
    return use(file);
  } finally {
    file.close();
  }
}

export function backendConformance(name: string, make: () => VfsBackend): void {
  describe(`VfsBackend conformance: ${name}`, () => {
    describe('stat and readdir', () => {
      it('a fresh backend is an empty root directory', () => {
        const b = make();
        expect(b.stat('/').type).toBe('dir');
        expect(b.readdir('/')).toEqual([]);
        expect(typeof b.kind).toBe('string');
      });

      it('stat describes files and directories', () => {
        const b = make();
        b.mkdir('/d', false);
        writeFile(b, '/d/f', 'héllo');
        const file = b.stat('/d/f');
        expect([file.type, file.size]).toEqual(['file', 6]);
        expect(Number.isFinite(file.mtimeMs)).toBe(true);
        expect(b.stat('/d').type).toBe('dir');
      });

      it('readdir lists names and types of direct children only', () => {
        const b = make();
        b.mkdir('/d/sub/deeper', true);
        writeFile(b, '/d/b', '');
        writeFile(b, '/d/a', '');
        const entries = b.readdir('/d').toSorted((x, y) => x.name.localeCompare(y.name));
        expect(entries).toEqual([{ name: 'a', type: 'file' }, { name: 'b', type: 'file' }, { name: 'sub', type: 'dir' }]);
      });

      it('ENOENT for missing paths, ENOTDIR through or on a file', () => {
        const b = make();
        writeFile(b, '/f', 'x');
        expect([errnoOf(() => b.stat('/missing')), errnoOf(() => b.readdir('/missing')), errnoOf(() => b.stat('/no/deeper'))]).toEqual(['ENOENT', 'ENOENT', 'ENOENT']);
        expect([errnoOf(() => b.readdir('/f')), errnoOf(() => b.stat('/f/x'))]).toEqual(['ENOTDIR', 'ENOTDIR']);
      });
    });

    describe('mkdir', () => {
      it('creates one directory when its parent exists', () => {
        const b = make();
        b.mkdir('/d', false);
        b.mkdir('/d/e', false);
        expect(b.stat('/d/e').type).toBe('dir');
      });

      it('without recursive: ENOENT for a missing parent, EEXIST for an existing directory or file', () => {
        const b = make();
        b.mkdir('/d', false);
        writeFile(b, '/f', 'x');
        expect([errnoOf(() => b.mkdir('/x/y', false)), errnoOf(() => b.mkdir('/d', false)), errnoOf(() => b.mkdir('/f', false)), errnoOf(() => b.mkdir('/', false))]).toEqual(['ENOENT', 'EEXIST', 'EEXIST', 'EEXIST']);
        expect(errnoOf(() => b.stat('/x'))).toBe('ENOENT');
      });

      it('recursive creates every missing parent and accepts an existing directory', () => {
        const b = make();
        b.mkdir('/a/b/c', true);
        writeFile(b, '/a/b/keep', 'x');
        b.mkdir('/a/b', true);
        b.mkdir('/', true);
        expect([b.stat('/a').type, b.stat('/a/b').type, b.stat('/a/b/c').type]).toEqual(['dir', 'dir', 'dir']);
        expect(readFile(b, '/a/b/keep')).toBe('x');
      });

      it('ENOTDIR when a parent is a file, with or without recursive', () => {
        const b = make();
        writeFile(b, '/f', 'x');
        expect([errnoOf(() => b.mkdir('/f/d', false)), errnoOf(() => b.mkdir('/f/d/e', true))]).toEqual(['ENOTDIR', 'ENOTDIR']);
      });
    });

    describe('unlink', () => {
      it('removes a file and an empty directory', () => {
        const b = make();
        writeFile(b, '/f', 'x');
        b.mkdir('/d', false);
        b.unlink('/f');
        b.unlink('/d');
        expect([errnoOf(() => b.stat('/f')), errnoOf(() => b.stat('/d'))]).toEqual(['ENOENT', 'ENOENT']);
        expect(b.readdir('/')).toEqual([]);
      });

      it('ENOTEMPTY for a directory with entries, ENOENT for a missing path, ENOTDIR through a file', () => {
        const b = make();
        b.mkdir('/d', false);
        writeFile(b, '/d/f', 'x');
        expect([errnoOf(() => b.unlink('/d')), errnoOf(() => b.unlink('/missing')), errnoOf(() => b.unlink('/d/f/x'))]).toEqual(['ENOTEMPTY', 'ENOENT', 'ENOTDIR']);
        expect(readFile(b, '/d/f')).toBe('x');
      });
    });

    describe('open', () => {
      it("'r' and 'r+' need an existing file: ENOENT otherwise, and nothing is created", () => {
        const b = make();
        expect([errnoOf(() => b.open('/f', 'r')), errnoOf(() => b.open('/f', 'r+'))]).toEqual(['ENOENT', 'ENOENT']);
        expect(b.readdir('/')).toEqual([]);
      });

      it.each(CREATING)("'%s' creates a missing file, empty", (mode) => {
        const b = make();
        withFile(b, '/f', mode, (file) => expect(file.size()).toBe(0));
        expect(b.stat('/f')).toMatchObject({ type: 'file', size: 0 });
      });

      it.each([['r', 'content'], ['r+', 'content'], ['a', 'content'], ['a+', 'content'], ['w', ''], ['w+', '']] as const)("'%s' on an existing file leaves %j", (mode, left) => {
        const b = make();
        writeFile(b, '/f', 'content');
        withFile(b, '/f', mode, () => undefined);
        expect(readFile(b, '/f')).toBe(left);
      });

      it.each(MODES)("'%s' on a directory is EISDIR", (mode) => {
        const b = make();
        b.mkdir('/d', false);
        expect([errnoOf(() => b.open('/d', mode)), errnoOf(() => b.open('/', mode))]).toEqual(['EISDIR', 'EISDIR']);
      });

      it.each(MODES)("'%s' below a file is ENOTDIR, below a missing directory ENOENT", (mode) => {
        const b = make();
        writeFile(b, '/f', 'x');
        expect([errnoOf(() => b.open('/f/x', mode)), errnoOf(() => b.open('/missing/x', mode))]).toEqual(['ENOTDIR', 'ENOENT']);
      });
    });

    describe('read, write, size and close', () => {
      it('read takes an explicit position and length; past the end it returns empty', () => {
        const b = make();
        writeFile(b, '/f', 'hello world');
        withFile(b, '/f', 'r', (file) => {
          expect(textOf(file.read(5, 0))).toBe('hello');
          expect(textOf(file.read(3, 6))).toBe('wor');
          expect(textOf(file.read(100, 6))).toBe('world');
          expect(file.read(10, 11).byteLength).toBe(0);
          expect(file.read(10, 1000).byteLength).toBe(0);
          expect(file.read(0, 0).byteLength).toBe(0);
          expect(file.read(1, 0)).toBeInstanceOf(Uint8Array);
        });
      });

      it('write at a position overwrites in place and returns the bytes written', () => {
        const b = make();
        writeFile(b, '/f', 'hello world');
        withFile(b, '/f', 'r+', (file) => {
          expect(file.write(bytes('WORLD'), 6)).toBe(5);
          expect(file.write(bytes('J'), 0)).toBe(1);
          expect(file.size()).toBe(11);
        });
        expect(readFile(b, '/f')).toBe('Jello WORLD');
      });

      it('write past the end extends the file with zero bytes', () => {
        const b = make();
        withFile(b, '/f', 'w+', (file) => {
          expect(file.write(bytes('ab'), 3)).toBe(2);
          expect(file.size()).toBe(5);
          expect(Array.from(file.read(10, 0))).toEqual([0, 0, 0, 97, 98]);
        });
      });

      it("'a' and 'a+' keep the content and append when written at size()", () => {
        const b = make();
        writeFile(b, '/f', 'one');
        withFile(b, '/f', 'a', (file) => file.write(bytes(' two'), file.size()));
        withFile(b, '/f', 'a+', (file) => {
          file.write(bytes(' three'), file.size());
          expect(textOf(file.read(3, 0))).toBe('one');
        });
        expect(readFile(b, '/f')).toBe('one two three');
      });

      it('w+ reads back what it wrote; size follows writes', () => {
        const b = make();
        withFile(b, '/f', 'w+', (file) => {
          file.write(bytes('abc'), 0);
          expect(file.size()).toBe(3);
          file.write(bytes('defg'), 3);
          expect(file.size()).toBe(7);
          expect(textOf(file.read(7, 0))).toBe('abcdefg');
        });
        expect(b.stat('/f').size).toBe(7);
      });

      it('stores bytes exactly, including NUL and non-UTF-8 bytes', () => {
        const b = make();
        const data = new Uint8Array([0, 1, 127, 128, 254, 255]);
        withFile(b, '/f', 'w', (file) => file.write(data, 0));
        expect(Array.from(withFile(b, '/f', 'r', (file) => file.read(100, 0)))).toEqual(Array.from(data));
      });

      it('data survives close; two open handles share the same file', () => {
        const b = make();
        const writer = b.open('/f', 'w');
        const reader = b.open('/f', 'r');
        writer.write(bytes('shared'), 0);
        expect(textOf(reader.read(100, 0))).toBe('shared');
        writer.close();
        reader.close();
        expect(readFile(b, '/f')).toBe('shared');
      });

      it('a closed file refuses I/O with EBADF', () => {
        const b = make();
        const file = b.open('/f', 'w+');
        file.close();
        expect([errnoOf(() => file.read(1, 0)), errnoOf(() => file.write(bytes('x'), 0)), errnoOf(() => file.size())]).toEqual(['EBADF', 'EBADF', 'EBADF']);
      });
    });

    it('two backends never share storage', () => {
      const one = make();
      const two = make();
      writeFile(one, '/f', 'mine');
      one.mkdir('/d', false);
      expect([errnoOf(() => two.stat('/f')), errnoOf(() => two.stat('/d'))]).toEqual(['ENOENT', 'ENOENT']);
      expect(two.readdir('/')).toEqual([]);
    });
  });
}
