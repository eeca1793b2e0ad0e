import type { DirEntry } from '../../vfs/backend.ts';
import type { MaybePromise } from '../../vfs/maybe.ts';
import type { SyscallContext } from '../context.ts';

/** sysReaddir lists the directory `path`, sorted by name. ENOTDIR for a file. */
export function sysReaddir(ctx: SyscallContext, args: { path: string }): MaybePromise<DirEntry[]> {
  return ctx.fs.readdir(args.path);
}
