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
  readdir(path: string): MaybePromise<DirEntry[]>;
  /** mkdir creates a directory; with `recursive` missing parents too and no EEXIST. */
  mkdir(path: string, recursive: boolean): MaybePromise<void>;
  /** unlink removes a file or an empty directory. */
  unlink(path: string): MaybePromise<void>;
  /** open opens (and, for w/a modes, creates) a regular file. */
  open(path: string, mode: OpenMode): MaybePromise<BackendFile>;
}
