import type { SyscallContext } from '../context.ts';

/** sysSigaction sets how a catchable signal is taken (default, ignore, handle). EINVAL for SIGKILL, SIGSTOP, SIGCONT, SIGPOLICY, SIGTRUST. */
export function sysSigaction(ctx: Pick<SyscallContext, 'sigaction'>, args: { signal: string; action: 'default' | 'ignore' | 'handle' }): string {
  return ctx.sigaction(args.signal, args.action);
}
