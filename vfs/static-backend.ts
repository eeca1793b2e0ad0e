/**
 * StaticBackend is a read-only tree of text files produced by a function, so
 * it always shows the current content (used for the effective policy under
 * /agent/<id>/policy). Every write answers EROFS.
 */
import { FileError } from '../abi/errno.ts';
import type { BackendFile, DirEntry, FileStat, OpenMode, VfsBackend } from './backend.ts';

export class StaticBackend implements VfsBackend {
  readonly kind = 'static';
  private readonly files: () => Readonly<Record<string, string>>;
  private readonly encoder = new TextEncoder();

  /** `files` maps names directly under the root (`/name`) to their text. */
  constructor(files: () => Readonly<Record<string, string>>) {
    this.files = files;
  }

  private text(op: string, path: string): string {
    const files = this.files();
    if (!Object.hasOwn(files, path)) throw new FileError('ENOENT', op, path);
    return files[path]!;
  }

  stat(path: string): FileStat {
    if (path === '/') return { type: 'dir', size: 0, mtimeMs: 0 };
    return { type: 'file', size: this.encoder.encode(this.text('stat', path)).byteLength, mtimeMs: 0 };
  }

  readdir(path: string): DirEntry[] {
    if (path !== '/') {
      this.text('scandir', path);
      throw new FileError('ENOTDIR', 'scandir', path);
    }
    return Object.keys(this.files()).map((name) => ({ name: name.slice(1), type: 'file' as const }));
  }

  mkdir(path: string): void {
    throw new FileError('EROFS', 'mkdir', path);
  }

  unlink(path: string): void {
    throw new FileError('EROFS', 'unlink', path);
  }

  open(path: string, mode: OpenMode): BackendFile {
    if (mode !== 'r') throw new FileError('EROFS', 'open', path);
    const data = this.encoder.encode(this.text('open', path));
    return {
      read: (length, position) => data.slice(position, position + length),
      write: () => {
        throw new FileError('EBADF', 'write', path, 'not open for writing');
      },
      size: () => data.byteLength,
      close: () => {},
    };
  }
}
