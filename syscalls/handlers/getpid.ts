import type { SyscallContext } from '../context.ts';

/** sysGetpid returns the caller's pid. Never fails. */
export function sysGetpid(ctx: SyscallContext, _args: object): number {
  return ctx.pid;
}
