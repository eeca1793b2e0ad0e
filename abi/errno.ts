/**
 * Errno — the kernel's error vocabulary, shared by every ring-0 layer and
 * copied to ring 3 as `{ errno, message }`. Errors are values with names; no
 * host exception ever crosses the boundary.
 */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  EIO: 5,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EEXIST: 17,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  EMFILE: 24,
  EFBIG: 27,
  ENOSPC: 28,
  EROFS: 30,
  ENAMETOOLONG: 36,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  EPIPE: 32,
  ECHILD: 10,
  ESRCH: 3,
  ENOEXEC: 8,
  EINTR: 4,
  ETIMEDOUT: 110,
  ECANCELED: 125,
  ENETUNREACH: 101,
  ECONNRESET: 104,
  ECONNREFUSED: 111,
  EHOSTUNREACH: 113,
} as const;

export type Errno = keyof typeof ERRNO;

/** The plain, copyable error shape ring 3 receives. */
export interface SyscallFault {
  errno: Errno;
  message: string;
}

/** KernelError carries an errno and a message; ring 0 throws only these. */
export class KernelError extends Error {
  readonly errno: Errno;
  constructor(errno: Errno, message: string) {
    super(message);
    this.errno = errno;
    this.name = 'KernelError';
  }
  toFault(): SyscallFault {
    return { errno: this.errno, message: this.message };
  }
}

/** ERRNO_TEXT is each errno's description as libuv words it, which is what Node prints. */
export const ERRNO_TEXT: Readonly<Record<Errno, string>> = {
  EPERM: 'operation not permitted',
  ENOENT: 'no such file or directory',
  EIO: 'i/o error',
  EBADF: 'bad file descriptor',
  EAGAIN: 'resource temporarily unavailable',
  ENOMEM: 'not enough memory',
  EACCES: 'permission denied',
  EEXIST: 'file already exists',
  ENOTDIR: 'not a directory',
  EISDIR: 'illegal operation on a directory',
  EINVAL: 'invalid argument',
  EMFILE: 'too many open files',
  EFBIG: 'file too large',
  ENOSPC: 'no space left on device',
  EROFS: 'read-only file system',
  ENAMETOOLONG: 'name too long',
  ENOSYS: 'function not implemented',
  ENOTEMPTY: 'directory not empty',
  EPIPE: 'broken pipe',
  ECHILD: 'no child processes',
  ESRCH: 'no such process',
  ENOEXEC: 'exec format error',
  EINTR: 'interrupted system call',
  ETIMEDOUT: 'connection timed out',
  ENETUNREACH: 'network is unreachable',
  ECONNRESET: 'connection reset by peer',
  ECONNREFUSED: 'connection refused',
  EHOSTUNREACH: 'host is unreachable',
  ECANCELED: 'operation canceled',
};

/**
 * FileError is a KernelError about one path, worded as Node words a failed
 * file operation: `ENOENT: no such file or directory, open
 * '/agent/notes/mem/x.txt'`, then the kernel's `detail` in parentheses when
 * there is more to say (`(the tree is at its quota of 8192 files and
 * directories)`). `op` is Node's name for the operation: open, stat,
 * scandir, mkdir, unlink, read, write, fstat, close.
 */
export class FileError extends KernelError {
  readonly op: string;
  readonly path: string;
  readonly detail: string | undefined;
  constructor(errno: Errno, op: string, path: string, detail?: string) {
    super(errno, `${errno}: ${ERRNO_TEXT[errno]}, ${op} '${path}'${detail ? ` (${detail})` : ''}`);
    this.name = 'FileError';
    this.op = op;
    this.path = path;
    this.detail = detail;
  }

  /** at is the same error about `path`: a backend names paths within its mount, the VFS names them as the agent sees them. */
  at(path: string): FileError {
    return new FileError(this.errno, this.op, path, this.detail);
  }

  /** of is `err` as a FileError about `path`: a FileError as it is, another KernelError with its message as the detail. */
  static of(err: KernelError, op: string, path: string): FileError {
    return err instanceof FileError ? err : new FileError(err.errno, op, path, err.message);
  }
}

export function isErrno(name: string): name is Errno {
  return Object.hasOwn(ERRNO, name);
}
