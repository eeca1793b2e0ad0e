import type { SyscallContext } from '../context.ts';
import { andThen, type MaybePromise } from '../../vfs/maybe.ts';

/** sysClose closes `fd`. EBADF if it is not open. */
export function sysClose(ctx: Pick<SyscallContext, 'files'>, args: { fd: number }): MaybePromise<0> {
  return andThen(ctx.files.close(args.fd), () => 0 as const);
}
