import type { FileStat } from '../../vfs/backend.ts';
import type { MaybePromise } from '../../vfs/maybe.ts';
import type { SyscallContext } from '../context.ts';

/** sysStat describes `path`: type, size and modification time. ENOENT if absent. */
export function sysStat(ctx: Pick<SyscallContext, 'fs'>, args: { path: string }): MaybePromise<FileStat> {
  return ctx.fs.stat(args.path);
}
