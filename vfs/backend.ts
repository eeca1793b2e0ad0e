/**
 * VfsBackend — what a storage backend implements. A backend stores bytes under
 * its own root: every path it sees is absolute within that root (`/` is the
 * mount point) and already normalised and confined by the VFS. Methods throw
 * KernelError (ENOENT, EEXIST, EISDIR, ENOTDIR, ENOTEMPTY, EIO); never a host
 * exception. Every backend must pass test/vfs-conformance.
 *
 * A method may answer at once or with a promise (a networked backend); the
 * kernel chains either way, and a promise blocks only the calling process.
 */
import type { MaybePromise } from './maybe.ts';

export type FileType = 'file' | 'dir';

export interface FileStat {
  type: FileType;
  size: number;
  mtimeMs: number;
}

export interface DirEntry {
  name: string;
  type: FileType;
}

export type OpenMode = 'r' | 'r+' | 'w' | 'w+' | 'a' | 'a+';

/** BackendFile is an open file; positions are passed explicitly. */
export interface BackendFile {
  /** Its calls answer later (a networked backend): a write's copy waits, and counts against its tree's waiting writes (kernel/fd-table.ts). */
  readonly later?: boolean;
  read(length: number, position: number): MaybePromise<Uint8Array>;
  write(data: Uint8Array, position: number): MaybePromise<number>;
  size(): MaybePromise<number>;
  close(): MaybePromise<void>;
}

export interface VfsBackend {
  readonly kind: string;
  stat(path: string): MaybePromise<FileStat>;
  /** readdir lists every entry of a directory, in no particular order. */
  readdir(path: string): MaybePromise<DirEntry[]>;
  /**
   * readdirPage lists at most `limit` entries whose names sort after `after`
   * (byName; from the start when it is empty), in that order. A backend
   * whose directories an agent can make large without bound (Redis) pages
   * itself, at a cost that follows the page; without it the VFS lists the
   * whole directory and cuts the page out (memfs: bounded by the quota).
   */
  readdirPage?(path: string, after: string, limit: number): MaybePromise<DirEntry[]>;
  /** mkdir creates a directory; with `recursive` missing parents too and no EEXIST. */
  mkdir(path: string, recursive: boolean): MaybePromise<void>;
  /** unlink removes a file or an empty directory. */
  unlink(path: string): MaybePromise<void>;
  /** open opens (and, for w/a modes, creates) a regular file. */
  open(path: string, mode: OpenMode): MaybePromise<BackendFile>;
}

/**
 * byName orders names by code point, the byte order of their UTF-8, which
 * is how Redis orders a directory's names; JavaScript's `<` compares UTF-16
 * units, which puts a character past U+FFFF (a surrogate pair) before
 * U+E000–U+FFFF.
 */
export function byName(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    const xPair = x >= 0xd800 && x <= 0xdfff;
    const yPair = y >= 0xd800 && y <= 0xdfff;
    if (xPair !== yPair) return xPair ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}
