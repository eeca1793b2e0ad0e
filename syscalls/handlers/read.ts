import type { MaybePromise } from '../../vfs/maybe.ts';
import type { CallScope, SyscallContext } from '../context.ts';

/** sysRead reads up to `length` bytes from `fd`; empty is end of file. Blocks on an empty pipe (ECANCELED if the call is cancelled meanwhile: nothing taken). EBADF if fd is not open for reading. */
export function sysRead(ctx: Pick<SyscallContext, 'files'>, args: { fd: number; length: number }, call: CallScope): MaybePromise<Uint8Array> {
  return ctx.files.read(args.fd, args.length, call.cancel);
}
