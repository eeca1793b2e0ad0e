import type { CallScope, SyscallContext } from '../context.ts';

/** sysTimer completes after `ms` milliseconds (0: on the kernel's next turn). ECANCELED when canceled first. */
export function sysTimer(ctx: Pick<SyscallContext, 'sleep'>, args: { ms: number }, call: CallScope): Promise<void> {
  return ctx.sleep(args.ms, call.cancel);
}
