import type { OpenMode } from '../../vfs/backend.ts';
import type { MaybePromise } from '../../vfs/maybe.ts';
import type { SyscallContext } from '../context.ts';

/** sysOpen opens the (resolved) `path` with `flags` and returns the new fd. EMFILE when the fd table is full. */
export function sysOpen(ctx: Pick<SyscallContext, 'files'>, args: { path: string; flags: OpenMode }): MaybePromise<number> {
  return ctx.files.open(args.path, args.flags);
}
