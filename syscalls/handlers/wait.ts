import type { SyscallContext, WaitResult } from '../context.ts';

/** sysWait blocks until child `pid` exits, reaps it and returns its status. ECHILD if not a child of the caller. */
export function sysWait(ctx: Pick<SyscallContext, 'wait'>, args: { pid: number }): Promise<WaitResult> {
  return ctx.wait(args.pid);
}
