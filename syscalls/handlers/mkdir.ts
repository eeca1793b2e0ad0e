import type { SyscallContext } from '../context.ts';

/** sysMkdir creates the directory `path` (and parents with `recursive`). EEXIST, ENOENT, EROFS. */
export function sysMkdir(ctx: SyscallContext, args: { path: string; recursive: boolean }): 0 {
  ctx.fs.mkdir(args.path, args.recursive);
  return 0;
}
