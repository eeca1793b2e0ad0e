import type { SyscallContext } from '../context.ts';

/** sysUnlink removes a file or an empty directory. ENOENT, ENOTEMPTY, EROFS. */
export function sysUnlink(ctx: SyscallContext, args: { path: string }): 0 {
  ctx.fs.unlink(args.path);
  return 0;
}
