// Runs an fs operation (a generator yielding syscall steps, see fs-ops.js)
// synchronously over env.sys or asynchronously over env.sysAsync. A failed
// syscall is thrown back into the operation as Node's error.
import { toNodeError } from './fs-errors.js';

/** runSync runs `op` to its end with blocking syscalls and returns its result. */
export function runSync(sys, op) {
  let input;
  let failure;
  let failed = false;
  for (;;) {
    const next = failed ? op.throw(failure) : op.next(input);
    failed = false;
    if (next.done) return next.value;
    const s = next.value;
    try {
      input = sys[s.call](...s.args);
    } catch (err) {
      failure = toNodeError(err, s.as, s.path, s.dest);
      failed = true;
    }
  }
}

/** runAsync runs `start()` (which returns the operation) with asynchronous syscalls; a promise of its result. */
export async function runAsync(sysAsync, start) {
  const op = start();
  let input;
  let failure;
  let failed = false;
  for (;;) {
    const next = failed ? op.throw(failure) : op.next(input);
    failed = false;
    if (next.done) return next.value;
    const s = next.value;
    try {
      input = await sysAsync[s.call](...s.args);
    } catch (err) {
      failure = toNodeError(err, s.as, s.path, s.dest);
      failed = true;
    }
  }
}
