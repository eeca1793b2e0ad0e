/**
 * The timer behind SYS_TIMER, in the kernel and in a sandbox host that runs
 * timers under a lease (kernel/hosts/leases.ts).
 */
import { KernelError } from '../abi/errno.ts';

/** sleep resolves after `ms` (0: on the next turn); ECANCELED when `cancel` aborts first, and the host timer is cleared then. */
export function sleep(ms: number, cancel: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (cancel.aborted) {
      reject(new KernelError('ECANCELED', 'the timer was canceled'));
      return;
    }
    const done = () => {
      cancel.removeEventListener('abort', stop);
      resolve();
    };
    const timer = ms === 0 ? setImmediate(done) : setTimeout(done, ms);
    const stop = () => {
      if (ms === 0) clearImmediate(timer as NodeJS.Immediate);
      else clearTimeout(timer as NodeJS.Timeout);
      reject(new KernelError('ECANCELED', 'the timer was canceled'));
    };
    cancel.addEventListener('abort', stop, { once: true });
  });
}
