import type { MaybePromise } from '../../vfs/maybe.ts';
import type { SyscallContext } from '../context.ts';

/** sysRead reads up to `length` bytes from `fd`; empty is end of file. Blocks on an empty pipe. EBADF if fd is not open for reading. */
export function sysRead(ctx: Pick<SyscallContext, 'files'>, args: { fd: number; length: number }): MaybePromise<Uint8Array> {
  return ctx.files.read(args.fd, args.length);
}
