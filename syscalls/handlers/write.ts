import type { MaybePromise } from '../../vfs/maybe.ts';
import type { SyscallContext } from '../context.ts';

/** sysWrite writes `data` to `fd` and returns the bytes written. Blocks on a full pipe. EBADF, EPIPE, EFBIG. */
export function sysWrite(ctx: Pick<SyscallContext, 'files'>, args: { fd: number; data: Uint8Array }): MaybePromise<number> {
  return ctx.files.write(args.fd, args.data);
}
