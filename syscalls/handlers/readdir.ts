import type { DirEntry } from '../../vfs/backend.ts';
import type { MaybePromise } from '../../vfs/maybe.ts';
import type { SyscallContext } from '../context.ts';

/**
 * sysReaddir lists one page of the directory `path`: up to `limit` entries
 * whose names sort after `after` (all from the start when it is empty), by
 * name (code point). A short page is the last. ENOTDIR for a file.
 */
export function sysReaddir(ctx: Pick<SyscallContext, 'fs'>, args: { path: string; after: string; limit: number }): MaybePromise<DirEntry[]> {
  return ctx.fs.readdirPage(args.path, args.after, args.limit);
}
