/**
 * How a replay answers each syscall before it goes live:
 *   fed    from the recording alone (effects outside the kernel, time, randomness, other processes, questions the
 *          answer of which may have changed since: tools and fetches, timers, spawns and waits, stat times)
 *   live   by the replaying kernel too, its answer checked against the recording: the calls that build the state a
 *          forked run goes on with (the VFS, the fd table, signal dispositions, the exit)
 *   by-fd  live on a VFS file or the operator's stdout and stderr, fed on anything else (stdin, pipes, a fetch's body)
 * A record over every syscall name: a new syscall does not compile until it has a class.
 */
import type { SyscallName } from '../../syscalls/table.ts';

export type ReplayClass = 'fed' | 'live' | 'by-fd';

export const REPLAY_CLASS: { readonly [N in SyscallName]: ReplayClass } = {
  SYS_READ: 'by-fd',
  SYS_WRITE: 'by-fd',
  SYS_OPEN: 'live',
  SYS_CLOSE: 'by-fd',
  SYS_STAT: 'fed',
  SYS_READDIR: 'fed',
  SYS_MKDIR: 'live',
  SYS_UNLINK: 'live',
  SYS_GETPID: 'fed',
  SYS_EXIT: 'live',
  SYS_EXEC: 'fed',
  SYS_SIGNAL: 'fed',
  SYS_CHECKPOLICY: 'fed',
  SYS_SIGACTION: 'live',
  SYS_SIGPROCMASK: 'live',
  SYS_SPAWN: 'fed',
  SYS_WAIT: 'fed',
  SYS_PIPE: 'live',
  SYS_CHECKPOINT: 'fed',
  SYS_TIMER: 'fed',
  SYS_CANCEL: 'fed',
  SYS_RANDOM: 'fed',
};
