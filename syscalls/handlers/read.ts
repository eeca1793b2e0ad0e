import type { SyscallContext } from '../context.ts';

/** sysRead reads up to `length` bytes from `fd`; an empty result is end of file. EBADF if fd is not open for reading. */
export function sysRead(ctx: SyscallContext, args: { fd: number; length: number }): Uint8Array {
  return ctx.files.read(args.fd, args.length);
}
