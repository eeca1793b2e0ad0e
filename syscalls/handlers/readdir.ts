import type { DirEntry } from '../../vfs/backend.ts';
import { andThen, type MaybePromise } from '../../vfs/maybe.ts';
import type { SyscallContext } from '../context.ts';

/**
 * sysReaddir lists one page of the directory `path`: up to `limit` entries
 * whose names sort after `after` (all from the start when it is empty), by
 * name. A short page is the last. ENOTDIR for a file.
 */
export function sysReaddir(ctx: Pick<SyscallContext, 'fs'>, args: { path: string; after: string; limit: number }): MaybePromise<DirEntry[]> {
  return andThen(ctx.fs.readdir(args.path), (entries) => {
    let from = 0;
    if (args.after !== '') while (from < entries.length && entries[from]!.name <= args.after) from++;
    return entries.slice(from, from + args.limit);
  });
}
