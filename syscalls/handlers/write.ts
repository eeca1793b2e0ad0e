import type { SyscallContext } from '../context.ts';

/** sysWrite writes `data` to `fd` and returns the bytes written. EBADF if fd is not open for writing. */
export function sysWrite(ctx: SyscallContext, args: { fd: number; data: Uint8Array }): number {
  return ctx.files.write(args.fd, args.data);
}
