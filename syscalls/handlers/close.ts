import type { SyscallContext } from '../context.ts';

/** sysClose closes `fd`. EBADF if it is not open. */
export function sysClose(ctx: SyscallContext, args: { fd: number }): 0 {
  ctx.files.close(args.fd);
  return 0;
}
