import type { SyscallContext } from '../context.ts';

/** sysCancel aborts the caller's outstanding asynchronous call `id`; it then completes with ECANCELED. Returns false if there is none. */
export function sysCancel(ctx: Pick<SyscallContext, 'cancel'>, args: { id: number }): boolean | Promise<boolean> {
  return ctx.cancel(args.id);
}
