import type { SyscallContext } from '../context.ts';
import { andThen, type MaybePromise } from '../../vfs/maybe.ts';

/** sysMkdir creates the directory `path` (and parents with `recursive`). EEXIST, ENOENT, EROFS. */
export function sysMkdir(ctx: Pick<SyscallContext, 'fs'>, args: { path: string; recursive: boolean }): MaybePromise<0> {
  return andThen(ctx.fs.mkdir(args.path, args.recursive), () => 0 as const);
}
