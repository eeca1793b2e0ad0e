import type { SyscallContext } from '../context.ts';

/** sysSigprocmask blocks, unblocks or sets masked signals and returns the mask; unblockable signals are silently left out. */
export function sysSigprocmask(ctx: Pick<SyscallContext, 'sigprocmask'>, args: { how: 'block' | 'unblock' | 'set'; signals: readonly string[] }): string[] {
  return ctx.sigprocmask(args.how, args.signals);
}
