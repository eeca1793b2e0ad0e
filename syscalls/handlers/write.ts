import type { MaybePromise } from '../../vfs/maybe.ts';
import type { CallScope, SyscallContext } from '../context.ts';

/** sysWrite writes `data` to `fd` and returns the bytes written. Blocks on a full pipe (ECANCELED if the call is cancelled meanwhile). EBADF, EPIPE, EFBIG. */
export function sysWrite(ctx: Pick<SyscallContext, 'files'>, args: { fd: number; data: Uint8Array }, call: CallScope): MaybePromise<number> {
  return ctx.files.write(args.fd, args.data, call.cancel);
}
