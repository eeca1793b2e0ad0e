/**
 * replyBound says how many bytes an asynchronous call's reply may bring, for
 * the calls whose replies can be large. A RemoteSandbox reserves that much
 * for the sandbox while the call is under way, and refuses such calls
 * (EAGAIN, not run) while what is held for the sandbox is past its budget
 * (outbox.ts); calls whose replies are small are never refused.
 */
import { SYSCALL_NUMBERS } from '../../syscalls/table.ts';
import { ARG_LIMITS } from '../../abi/limits.ts';

/** askedFor is a length a call asks for, at most `most` (`most` when it is not one: the call fails decoding, and its reply is small). */
const askedFor = (n: unknown, most: number) => (typeof n === 'number' && n > 0 ? Math.min(n, most) : most);

/**
 * replyBound is what an asynchronous call's reply may bring, bytes, for the
 * calls whose replies can be large: a read and random bytes (what they ask
 * for), a page of a directory (1,024 names), a tool's answer (its usual
 * size: an http.fetch answer carries at most 64 KiB of body inline, larger
 * bodies come through an fd; a tool's own output cap and call slots bound
 * the rest). 0 for the rest, whose replies are small.
 */
export function replyBound(nr: unknown, args: readonly unknown[]): number {
  switch (nr) {
    case SYSCALL_NUMBERS.SYS_READ:
      return askedFor(args[1], ARG_LIMITS.ioBytes);
    case SYSCALL_NUMBERS.SYS_RANDOM:
      return askedFor(args[0], ARG_LIMITS.ioBytes);
    case SYSCALL_NUMBERS.SYS_READDIR:
      return 256 * 1024;
    case SYSCALL_NUMBERS.SYS_EXEC:
      return 64 * 1024;
    default:
      return 0;
  }
}
