import type { MaybePromise } from '../../vfs/maybe.ts';
import type { SpawnRequest, SyscallContext } from '../context.ts';

/** sysSpawn starts a child from a program in the caller's VFS or a registered program; returns its pid. ENOENT, ENOEXEC, EPERM, EAGAIN. */
export function sysSpawn(ctx: Pick<SyscallContext, 'spawn'>, args: { program: string; argv: readonly string[]; options: Omit<SpawnRequest, 'program' | 'argv'> }): MaybePromise<number> {
  return ctx.spawn({ program: args.program, argv: args.argv, ...args.options });
}
