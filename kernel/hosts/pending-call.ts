/**
 * A call a sandbox host forwards to the kernel, waiting for its reply: the
 * call's cancel signal gets an abort listener when the call goes out, and
 * loses it when the reply comes. A blocking call's signal is its process's
 * lifetime, shared by every call the process makes: one listener left on it
 * per call grew the host's memory with every syscall and made each add
 * slower (an agent's 100,000th getpid on a host took 1.3 ms, its first 0.3).
 */
import type { Reply } from '../../syscalls/dispatch.ts';
import { abortUntil } from '../abort-until.ts';

/** pendingCall is the reply `register` settles; `onAbort` runs if `cancel` aborts before it does. */
export function pendingCall(cancel: AbortSignal, onAbort: () => void, register: (settle: (reply: Reply) => void) => void): Promise<Reply> {
  const reply = new Promise<Reply>((resolve) => register(resolve));
  abortUntil(cancel, onAbort, reply);
  return reply;
}
