// Node-shaped errors for the fs module: a kernel SyscallError ({ errno:
// 'ENOENT', syscall: 'SYS_OPEN', message }) becomes an Error whose code,
// errno, syscall, path and message read as Node's do.

/** ERRNO_NUMBERS maps errno names to Linux numbers (Node reports them negated). */
export const ERRNO_NUMBERS = {
  EPERM: 1, ENOENT: 2, ESRCH: 3, EINTR: 4, EIO: 5, ENOEXEC: 8, EBADF: 9, ECHILD: 10, EAGAIN: 11, ENOMEM: 12,
  EACCES: 13, EEXIST: 17, ENOTDIR: 20, EISDIR: 21, EINVAL: 22, EMFILE: 24, EFBIG: 27, ENOSPC: 28, ESPIPE: 29,
  EROFS: 30, EPIPE: 32, ENAMETOOLONG: 36, ENOSYS: 38, ENOTEMPTY: 39, ETIMEDOUT: 110,
};

/** ERRNO_TEXT is libuv's description of each errno, as Node prints it. */
const ERRNO_TEXT = {
  EPERM: 'operation not permitted', ENOENT: 'no such file or directory', ESRCH: 'no such process',
  EINTR: 'interrupted system call', EIO: 'i/o error', ENOEXEC: 'exec format error', EBADF: 'bad file descriptor',
  ECHILD: 'no child processes', EAGAIN: 'resource temporarily unavailable', ENOMEM: 'not enough memory',
  EACCES: 'permission denied', EEXIST: 'file already exists', ENOTDIR: 'not a directory',
  EISDIR: 'illegal operation on a directory', EINVAL: 'invalid argument', EMFILE: 'too many open files',
  EFBIG: 'file too large', ENOSPC: 'no space left on device', ESPIPE: 'invalid seek', EROFS: 'read-only file system',
  EPIPE: 'broken pipe', ENAMETOOLONG: 'name too long', ENOSYS: 'function not implemented',
  ENOTEMPTY: 'directory not empty', ETIMEDOUT: 'connection timed out',
};

/** The Node syscall name for a kernel syscall, when the caller names none. */
const NODE_SYSCALL = {
  SYS_OPEN: 'open', SYS_READ: 'read', SYS_WRITE: 'write', SYS_CLOSE: 'close', SYS_STAT: 'stat',
  SYS_READDIR: 'scandir', SYS_MKDIR: 'mkdir', SYS_UNLINK: 'unlink',
};

/** errnoName returns the errno name for a negative or positive number (util.getSystemErrorName). */
export function errnoName(number) {
  const n = Math.abs(number);
  for (const name in ERRNO_NUMBERS) if (ERRNO_NUMBERS[name] === n) return name;
  return `Unknown system error ${number}`;
}

/**
 * fsError builds Node's error for `code` (an errno name): `ENOENT: no such
 * file or directory, open '/x'`, with code, errno (negative), syscall, path
 * and dest. `reason` keeps the kernel's own message (a policy denial names its rule).
 */
export function fsError(code, syscall, path, dest, reason) {
  const text = ERRNO_TEXT[code] || 'unknown error';
  let message = `${code}: ${text}, ${syscall}`;
  if (path !== undefined) message += ` '${path}'`;
  if (dest !== undefined) message += ` -> '${dest}'`;
  const err = new Error(message);
  err.errno = -(ERRNO_NUMBERS[code] || 0);
  err.code = code;
  err.syscall = syscall;
  if (path !== undefined) err.path = String(path);
  if (dest !== undefined) err.dest = String(dest);
  if (reason !== undefined && reason !== '' && reason !== text) err.reason = reason;
  return err;
}

/** isSyscallError tells a kernel fault ({ errno: 'ENOENT', … }) from any other throw. */
export function isSyscallError(err) {
  return err !== null && typeof err === 'object' && typeof err.errno === 'string' && /^E[A-Z]+$/.test(err.errno);
}

/** toNodeError converts a kernel fault to Node's shape; anything else is returned unchanged. */
export function toNodeError(err, syscall, path, dest) {
  if (!isSyscallError(err)) return err;
  return fsError(err.errno, syscall || NODE_SYSCALL[err.syscall] || String(err.syscall || 'unknown'), path, dest, err.message);
}

/** unsupported is the ENOSYS error for an fs call the kernel has no syscall for. */
export function unsupported(syscall, path, dest, why) {
  const err = fsError('ENOSYS', syscall, path, dest);
  err.message += ` (${why})`;
  return err;
}
