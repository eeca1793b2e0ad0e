/**
 * MemfsBackend stores a tree in its own memfs Volume, so no two mounts share
 * storage. memfs errors are mapped onto errno values.
 */
import { Volume } from 'memfs';
import { KernelError, isErrno } from '../syscalls/errno.ts';
import type { BackendFile, DirEntry, FileStat, OpenMode, VfsBackend } from './backend.ts';

interface MemfsDirent {
  name: unknown;
  isDirectory(): boolean;
}

function mapError(err: unknown, path: string): KernelError {
  if (err instanceof KernelError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && isErrno(code)) return new KernelError(code, `${code.toLowerCase()}: ${path}`);
  return new KernelError('EIO', `backend error on ${path}`);
}

function guard<T>(path: string, op: () => T): T {
  try {
    return op();
  } catch (err) {
    throw mapError(err, path);
  }
}

export class MemfsBackend implements VfsBackend {
  readonly kind = 'memfs';
  private readonly vol = new Volume();

  /** fromFiles builds a backend holding `files` (path → text), creating parents. */
  static fromFiles(files: Readonly<Record<string, string>>): MemfsBackend {
    const backend = new MemfsBackend();
    for (const [path, text] of Object.entries(files)) {
      backend.vol.mkdirSync(path.slice(0, path.lastIndexOf('/')) || '/', { recursive: true });
      backend.vol.writeFileSync(path, text);
    }
    return backend;
  }

  stat(path: string): FileStat {
    return guard(path, () => {
      const st = this.vol.statSync(path);
      return { type: st.isDirectory() ? 'dir' : 'file', size: Number(st.size), mtimeMs: Number(st.mtimeMs) };
    });
  }

  readdir(path: string): DirEntry[] {
    return guard(path, () =>
      (this.vol.readdirSync(path, { withFileTypes: true }) as unknown as MemfsDirent[]).map((d) => ({
        name: String(d.name),
        type: d.isDirectory() ? 'dir' : 'file',
      })),
    );
  }

  mkdir(path: string, recursive: boolean): void {
    guard(path, () => {
      if (recursive && this.vol.existsSync(path) && !this.vol.statSync(path).isDirectory()) throw new KernelError('EEXIST', `exists and is a file: ${path}`);
      this.vol.mkdirSync(path, { recursive });
    });
  }

  unlink(path: string): void {
    guard(path, () => {
      if (this.vol.statSync(path).isDirectory()) this.vol.rmdirSync(path);
      else this.vol.unlinkSync(path);
    });
  }

  open(path: string, mode: OpenMode): BackendFile {
    const vol = this.vol;
    const fd = guard(path, () => {
      if (vol.existsSync(path) && vol.statSync(path).isDirectory()) throw new KernelError('EISDIR', `is a directory: ${path}`);
      return vol.openSync(path, mode);
    });
    let closed = false;
    const writable = mode !== 'r';
    return {
      read(length, position) {
        const buf = new Uint8Array(length);
        const n = guard(path, () => vol.readSync(fd, buf, 0, length, position));
        return n === length ? buf : buf.slice(0, n);
      },
      write(data, position) {
        if (!writable) throw new KernelError('EBADF', `not open for writing: ${path}`);
        return guard(path, () => vol.writeSync(fd, data, 0, data.byteLength, position));
      },
      size() {
        return guard(path, () => Number(vol.fstatSync(fd).size));
      },
      close() {
        if (closed) return;
        closed = true;
        guard(path, () => vol.closeSync(fd));
      },
    };
  }
}
