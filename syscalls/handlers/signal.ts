import type { SyscallContext } from '../context.ts';

/** sysSignal sends `signal` to `pid` and returns what became of it. ESRCH, EPERM (not a child, no signal:any), EINVAL. */
export function sysSignal(ctx: Pick<SyscallContext, 'signal'>, args: { pid: number; signal: string }): string {
  return ctx.signal(args.pid, args.signal);
}
