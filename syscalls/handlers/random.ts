import type { SyscallContext } from '../context.ts';

/** sysRandom returns `length` (1–65,536) bytes from the kernel's cryptographic generator. */
export function sysRandom(ctx: Pick<SyscallContext, 'randomBytes'>, args: { length: number }): Uint8Array {
  return ctx.randomBytes(args.length);
}
