/**
 * MemfsBackend stores a tree in its own memfs Volume, so no two mounts share
 * storage. memfs errors are mapped onto errno values. The tree lives in the
 * kernel's memory, so it is bounded by a Quota (bytes of data, files and
 * directories), which may be shared with the agent's other memfs mounts:
 * growth past it is ENOSPC and changes nothing.
 */
import { Volume } from 'memfs';
import { FileError, KernelError, isErrno } from '../abi/errno.ts';
import type { BackendFile, DirEntry, FileStat, OpenMode, VfsBackend } from './backend.ts';
import { Quota } from './quota.ts';

interface MemfsDirent {
  name: unknown;
  isDirectory(): boolean;
}

/** mapError turns what `op` on `path` threw into a FileError naming them (a memfs error by its code; anything else is EIO). */
function mapError(err: unknown, op: string, path: string): FileError {
  if (err instanceof KernelError) return FileError.of(err, op, path);
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && isErrno(code)) return new FileError(code, op, path);
  return new FileError('EIO', op, path, 'backend error');
}

function guard<T>(op: string, path: string, body: () => T): T {
  try {
    return body();
  } catch (err) {
    throw mapError(err, op, path);
  }
}

const CREATES: ReadonlySet<OpenMode> = new Set(['w', 'w+', 'a', 'a+']);

export class MemfsBackend implements VfsBackend {
  readonly kind = 'memfs';
  readonly quota: Quota;
  private readonly vol = new Volume();
  /**
   * The open files by path (the VFS has no rename), each with its handles and
   * whether it was unlinked while open: memfs keeps an unlinked file's data
   * until its last handle closes, so its bytes and inode stay charged until
   * then. (Not by inode: memfs gives a freed inode number to the next file.)
   */
  private readonly openFiles = new Map<string, { handles: number; unlinked: boolean }>();

  /** MemfsBackend makes an empty tree bounded by `quota` (none by default). */
  constructor(quota: Quota = Quota.unlimited()) {
    this.quota = quota;
  }

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
    return guard('stat', path, () => {
      const st = this.vol.statSync(path);
      return { type: st.isDirectory() ? 'dir' : 'file', size: Number(st.size), mtimeMs: Number(st.mtimeMs) };
    });
  }

  readdir(path: string): DirEntry[] {
    return guard('scandir', path, () =>
      (this.vol.readdirSync(path, { withFileTypes: true }) as unknown as MemfsDirent[]).map((d) => ({
        name: String(d.name),
        type: d.isDirectory() ? 'dir' : 'file',
      })),
    );
  }

  /** missing counts the directories a mkdir of `path` would create. */
  private missing(path: string, recursive: boolean): number {
    if (!recursive) return this.vol.existsSync(path) ? 0 : 1;
    let count = 0;
    for (let at = path; at !== '/' && at !== '' && !this.vol.existsSync(at); at = at.slice(0, at.lastIndexOf('/')) || '/') count++;
    return count;
  }

  mkdir(path: string, recursive: boolean): void {
    guard('mkdir', path, () => {
      if (recursive && this.vol.existsSync(path) && !this.vol.statSync(path).isDirectory()) throw new FileError('EEXIST', 'mkdir', path, 'a file is in the way');
      const created = this.missing(path, recursive);
      this.quota.reserve(0, created);
      try {
        this.vol.mkdirSync(path, { recursive });
      } catch (err) {
        this.quota.release(0, created);
        throw err;
      }
    });
  }

  unlink(path: string): void {
    guard('unlink', path, () => {
      const st = this.vol.statSync(path);
      if (st.isDirectory()) this.vol.rmdirSync(path);
      else this.vol.unlinkSync(path);
      const held = st.isDirectory() ? undefined : this.openFiles.get(path);
      if (held !== undefined) {
        // An open file's data lives on: it is given back when its last handle closes; the path is free for a new file.
        held.unlinked = true;
        this.openFiles.delete(path);
      } else this.quota.release(st.isDirectory() ? 0 : Number(st.size), 1);
    });
  }

  open(path: string, mode: OpenMode): BackendFile {
    const vol = this.vol;
    const quota = this.quota;
    const fd = guard('open', path, () => {
      const exists = vol.existsSync(path);
      const st = exists ? vol.statSync(path) : undefined;
      if (st?.isDirectory()) throw new FileError('EISDIR', 'open', path);
      const creates = !exists && CREATES.has(mode);
      if (creates) quota.reserve(0, 1);
      let opened: number;
      try {
        opened = vol.openSync(path, mode);
      } catch (err) {
        if (creates) quota.release(0, 1);
        throw err;
      }
      // w and w+ truncate: what the file held is free again.
      if (st !== undefined && (mode === 'w' || mode === 'w+')) quota.release(Number(st.size), 0);
      return opened;
    });
    let closed = false;
    const writable = mode !== 'r';
    const held = this.openFiles.get(path) ?? { handles: 0, unlinked: false };
    held.handles++;
    this.openFiles.set(path, held);
    const openFiles = this.openFiles;
    return {
      read(length, position) {
        const buf = new Uint8Array(length);
        const n = guard('read', path, () => vol.readSync(fd, buf, 0, length, position));
        return n === length ? buf : buf.slice(0, n);
      },
      write(data, position) {
        if (!writable) throw new FileError('EBADF', 'write', path, 'not open for writing');
        return guard('write', path, () => {
          // A write past the end grows the file (a gap included): reserve the growth first.
          const growth = Math.max(0, position + data.byteLength - Number(vol.fstatSync(fd).size));
          quota.reserve(growth, 0);
          try {
            return vol.writeSync(fd, data, 0, data.byteLength, position);
          } catch (err) {
            quota.release(growth, 0);
            throw err;
          }
        });
      },
      size() {
        return guard('fstat', path, () => Number(vol.fstatSync(fd).size));
      },
      close() {
        if (closed) return;
        closed = true;
        const size = held.unlinked && held.handles === 1 ? Number(vol.fstatSync(fd).size) : 0;
        guard('close', path, () => vol.closeSync(fd));
        if (--held.handles > 0) return;
        if (held.unlinked) quota.release(size, 1);
        else if (openFiles.get(path) === held) openFiles.delete(path);
      },
    };
  }
}
