import type { SyscallContext } from '../context.ts';

/** sysExit ends the caller with status `code`; the isolate stops as the call returns. */
export function sysExit(ctx: Pick<SyscallContext, 'exit'>, args: { code: number }): 0 {
  ctx.exit(args.code);
  return 0;
}
