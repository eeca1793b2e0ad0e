/**
 * Watching a disposed isolate stop. The calls into an isolate that were
 * running when it was disposed each end within milliseconds ("disposed
 * during execution"), unless isolated-vm was running the program's code
 * where a disposal cannot stop it (found by an attacker pass: a promise left
 * rejected with an error whose `message` getter loops, read after the call's
 * end, spun a thread for good, and the process could not exit). Such a
 * thread is reported once: the kernel, or the sandbox host, that holds it is
 * then the one to end.
 */

/** How long the calls into a disposed isolate may take to end before its thread counts as stuck, ms (they end within milliseconds). */
export const STUCK_MS = 5000;
/** How often a disposed isolate's calls are looked at until they end, ms. */
const POLL_MS = 10;

/** Disposals whose calls have not ended yet, and who waits for them. */
let stopping = 0;
const whenStopped: (() => void)[] = [];

/** disposalsSettled resolves once every isolate disposed so far has stopped or been reported stuck (at most STUCK_MS). */
export function disposalsSettled(): Promise<void> {
  return stopping === 0 ? Promise.resolve() : new Promise((resolve) => whenStopped.push(resolve));
}

/** watchDisposal follows a disposed isolate while `running()` says calls into it have not ended; `stuck` is told once if they have not after STUCK_MS. */
export function watchDisposal(running: () => boolean, stuck: (why: string) => void): void {
  stopping++;
  const since = performance.now();
  const done = () => {
    if (--stopping === 0) for (const resolve of whenStopped.splice(0)) resolve();
  };
  const look = setInterval(() => {
    if (!running()) {
      clearInterval(look);
      return done();
    }
    if (performance.now() - since < STUCK_MS) return;
    clearInterval(look);
    // One more turn first: a loop held past STUCK_MS (a long task of the kernel's) has the calls' ends waiting in its I/O.
    setImmediate(() => {
      if (running()) stuck(`an isolate's thread still ran ${STUCK_MS} ms after its disposal (isolated-vm ran the program's code where it cannot be stopped)`);
      done();
    });
  }, POLL_MS);
}
