/**
 * What a binary that runs isolates does with an error nothing caught: a bug
 * in the kernel or in a library (esbuild's client once threw from a socket
 * handler on a reply too large for a string). Node would print it and exit,
 * and that exit can hang for ever: isolated-vm's exit handler joins its
 * worker threads, and one may be waiting on the main thread for an agent's
 * call (an attacker pass left a kernel hung that way for ten minutes, up and
 * serving nothing, which no supervisor restarts). So the binary says what
 * happened, runs the exit listeners (a decision log writes what it still
 * holds), and ends by SIGKILL: status 137 in a shell, a restart for a
 * supervisor.
 */
import { write } from 'node:fs';

/** end is the end itself: nothing of Node's exit path runs. */
const end = () => process.kill(process.pid, 'SIGKILL');

/** describe is what is said of the error, whatever it is (its own toString may throw). */
function describe(program: string, err: unknown): string {
  try {
    return `${program}: internal error, ending (a bug: please report it): ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`;
  } catch {
    return `${program}: internal error, ending (a bug: please report it): an error that cannot be shown\n`;
  }
}

/** endOnInternalError installs the last resort for `program`; call it once, first thing. */
export function endOnInternalError(program: string): void {
  process.on('uncaughtException', (err: unknown) => {
    try {
      process.emit('exit', 70);
    } catch {
      // a listener's own failure does not stop the end
    }
    // Said without waiting on stderr for long (a reader that stopped reading would hold a synchronous write for ever),
    // and without going back to the event loop (agents would go on calling the broken kernel meanwhile): the write
    // runs on libuv's pool while this thread sleeps a moment, then the end.
    write(2, describe(program, err), () => {});
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 250);
    end();
  });
}
