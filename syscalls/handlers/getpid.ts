import type { SyscallContext } from '../context.ts';

/** sysGetpid returns the caller's pid. Never fails. */
export function sysGetpid(ctx: Pick<SyscallContext, 'pid'>, _args: object): number {
  return ctx.pid;
}
