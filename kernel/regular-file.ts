/**
 * Files the kernel and its commands read whole (policies, manifests,
 * configurations, experiments, keys, the files of a recorded run) are read
 * only if they are regular files of at most a given size: opened without
 * blocking (a FIFO in their place would hang the open), checked with fstat
 * (a device such as /dev/zero would never end), and read no further than
 * the size checked. Anything else is EINVAL naming the file; a missing file
 * is ENOENT.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { ERRNO_TEXT, isErrno, KernelError } from '../abi/errno.ts';

/** The largest configuration file (agentd's, a tools configuration) and the largest key file read. */
export const MAX_CONFIG_BYTES = 16 * 1024 * 1024;
export const MAX_KEY_BYTES = 64 * 1024;

/** openRegular opens `file` for reading if it is a regular file of at most `max` bytes: its descriptor and size. */
export function openRegular(file: string, max: number, what: string): { readonly fd: number; readonly size: number } {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new KernelError('ENOENT', `${file}: no such file`);
    // Node's message names the file again: the errno's text, or its code.
    throw new KernelError('EINVAL', `${file}: cannot read: ${typeof code === 'string' && isErrno(code) ? `${ERRNO_TEXT[code]} (${code})` : (code ?? String(err))}`);
  }
  const stat = fstatSync(fd);
  const problem = !stat.isFile() ? 'not a regular file' : stat.size > max ? `${stat.size} bytes, larger than any ${what}` : undefined;
  if (problem !== undefined) {
    closeSync(fd);
    throw new KernelError('EINVAL', `${file}: ${problem}`);
  }
  return { fd, size: stat.size };
}

/** readRegular reads `file` whole if it is a regular file of at most `max` bytes (as far as its size when opened). */
export function readRegular(file: string, max: number, what: string): Buffer {
  const { fd, size } = openRegular(file, max, what);
  try {
    return readUpTo(fd, size);
  } finally {
    closeSync(fd);
  }
}

/** readUpTo reads open file `fd` from its start, no further than `size` bytes (less if it ends first). */
export function readUpTo(fd: number, size: number): Buffer {
  const bytes = Buffer.alloc(size);
  let at = 0;
  while (at < size) {
    const n = readSync(fd, bytes, at, size - at, at);
    if (n === 0) break;
    at += n;
  }
  return bytes.subarray(0, at);
}

/** readRegularText is readRegular's bytes as UTF-8 text. */
export function readRegularText(file: string, max: number, what: string): string {
  return readRegular(file, max, what).toString('utf8');
}

/** whyUnreadable is what to say of `file`, which openRegular refused with `err`, after the file's name: `no such file or directory`, `not a regular file`, … */
export function whyUnreadable(err: KernelError, file: string): string {
  return err.errno === 'ENOENT' ? ERRNO_TEXT.ENOENT : withoutFile(err.message, file);
}

/** withoutFile is a KernelError's message from openRegular without its leading `FILE: ` (for errors that name the file themselves). */
export function withoutFile(message: string, file: string): string {
  return message.startsWith(`${file}: `) ? message.slice(file.length + 2) : message;
}
