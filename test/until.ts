/**
 * The one way a test waits for something that happens by itself: an agent's
 * output, a process state, a record in a log, a line from agentd, a server
 * seeing a connection close. Wait on an event the code offers where there is
 * one (a process's `exited`, a reply); until polls where there is none, and
 * `within` puts the same kind of guard on an event.
 *
 * Neither is a timing assertion: the guard only turns a hang into a failure
 * that says what never happened. It is generous (HANG_GUARD_MS) so that a
 * loaded machine does not fail a test that is merely slow. A test that means
 * "this did not happen" should not wait a fixed time either: it waits for a
 * positive event that must come after the thing that must not happen (a
 * later record, a twin agent that was not stopped), then looks.
 */

/** How long a wait may take before it fails: long enough for a loaded CI machine, shorter than the test timeout. */
export const HANG_GUARD_MS = 15_000;

/** The poll interval grows from 1 ms to this, so a quick event is seen at once and a slow one costs little. */
const MAX_INTERVAL_MS = 25;

/** A description of what is awaited, or a function giving one; a function is called only on timeout, to show the state then. */
export type Awaited = string | (() => string);

function described(what: Awaited): string {
  return typeof what === 'string' ? what : what();
}

/**
 * until resolves once `condition` (sync or async) returns true. It throws
 * `until: timed out after N ms waiting for <what>` if it has not after
 * `timeoutMs`; an error thrown by `condition` fails the wait at once (a
 * condition that expects errors while it waits catches them itself).
 */
export async function until(condition: () => boolean | Promise<boolean>, what: Awaited, timeoutMs = HANG_GUARD_MS): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (let interval = 1; !(await condition()); interval = Math.min(interval * 2, MAX_INTERVAL_MS)) {
    if (performance.now() > deadline) throw new Error(`until: timed out after ${timeoutMs} ms waiting for ${described(what)}`);
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

/** within resolves or rejects as `event` does, or throws `within: timed out after N ms waiting for <what>` first. */
export async function within<T>(event: Promise<T>, what: Awaited, timeoutMs = HANG_GUARD_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`within: timed out after ${timeoutMs} ms waiting for ${described(what)}`)), timeoutMs);
  });
  try {
    return await Promise.race([event, guard]);
  } finally {
    clearTimeout(timer);
  }
}
