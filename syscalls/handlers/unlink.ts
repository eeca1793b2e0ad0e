import type { SyscallContext } from '../context.ts';
import { andThen, type MaybePromise } from '../../vfs/maybe.ts';

/** sysUnlink removes a file or an empty directory. ENOENT, ENOTEMPTY, EROFS. */
export function sysUnlink(ctx: Pick<SyscallContext, 'fs'>, args: { path: string }): MaybePromise<0> {
  return andThen(ctx.fs.unlink(args.path), () => 0 as const);
}
