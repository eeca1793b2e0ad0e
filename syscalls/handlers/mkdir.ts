import type { SyscallContext } from '../context.ts';
import { then, type MaybePromise } from '../../vfs/maybe.ts';

/** sysMkdir creates the directory `path` (and parents with `recursive`). EEXIST, ENOENT, EROFS. */
export function sysMkdir(ctx: SyscallContext, args: { path: string; recursive: boolean }): MaybePromise<0> {
  return then(ctx.fs.mkdir(args.path, args.recursive), () => 0 as const);
}
