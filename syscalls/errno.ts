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

export function isErrno(name: string): name is Errno {
  return Object.hasOwn(ERRNO, name);
}
