import type { JsonValue } from '../schema.ts';
import type { PolicyAnswer, SyscallContext } from '../context.ts';

/**
 * sysCheckpolicy answers whether `syscall` with `args` (positional array or
 * object by argument name) would be allowed, without doing it. EINVAL for an
 * unknown syscall or arguments its row rejects.
 */
export function sysCheckpolicy(ctx: Pick<SyscallContext, 'checkPolicy'>, args: { syscall: string; args: JsonValue }): PolicyAnswer {
  return ctx.checkPolicy(args.syscall, args.args);
}
