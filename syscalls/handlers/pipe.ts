import type { SyscallContext } from '../context.ts';

/** sysPipe creates a pipe (64 KiB, blocking) and returns [read fd, write fd]. EMFILE. */
export function sysPipe(ctx: Pick<SyscallContext, 'files'>, _args: object): [number, number] {
  return ctx.files.pipe();
}
