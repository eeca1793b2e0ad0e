import type { SyscallContext } from '../context.ts';
import { then, type MaybePromise } from '../../vfs/maybe.ts';

/** sysClose closes `fd`. EBADF if it is not open. */
export function sysClose(ctx: SyscallContext, args: { fd: number }): MaybePromise<0> {
  return then(ctx.files.close(args.fd), () => 0 as const);
}
