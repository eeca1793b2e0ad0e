/**
 * What isolated-vm reports when a host→isolate call (or a compile or run
 * inside one) fails: its own stop of the isolate (out of memory, disposed),
 * or a promise the program rejected with no handler, whose reason the host
 * holds a copy of. The Sandbox hands such reasons back to the program
 * (sandbox.ts `reported`), within these bounds.
 */

/** isolated-vm's own words when it stops an isolate (out of memory, disposed). */
const ISOLATE_STOPPED = /^Isolated? (?:was disposed during execution( due to memory limit)?|is disposed)\.?$/;

/** stoppedBy says why isolated-vm stopped the isolate when `err` is its own error, else undefined: a program's error never counts, whatever it says. */
export function stoppedBy(err: unknown): 'memory' | 'disposed' | undefined {
  const words = err instanceof Error ? ISOLATE_STOPPED.exec(err.message) : null;
  return words === null ? undefined : words[1] !== undefined ? 'memory' : 'disposed';
}

/** The most characters of a reported rejection's message, stack or text handed back to the program: the host copies it each time. */
const REPORT_TEXT_MAX = 64 * 1024;

/**
 * The most characters of reported rejections' text one process may have the
 * host copy out of its isolate (isolated-vm copies each reason out whole):
 * past it, a report ends the process instead of going to its listeners. A
 * listener that rejects again with a 32 MiB message made the kernel hold GBs.
 */
export const REPORTS_TEXT_MAX = 64 * 1024 * 1024;

/** textOf is how many characters of text a reported reason carries. */
export function textOf(reason: unknown): number {
  if (typeof reason === 'string') return reason.length;
  if (reason instanceof Error) return reason.message.length + (typeof reason.stack === 'string' ? reason.stack.length : 0);
  return 0;
}

/** bounded cuts a reported rejection's reason (the host's copy) to REPORT_TEXT_MAX characters of text. */
export function bounded(reason: unknown): unknown {
  if (typeof reason === 'string') return reason.length > REPORT_TEXT_MAX ? reason.slice(0, REPORT_TEXT_MAX) : reason;
  if (reason instanceof Error) {
    if (reason.message.length > REPORT_TEXT_MAX) reason.message = reason.message.slice(0, REPORT_TEXT_MAX);
    if (typeof reason.stack === 'string' && reason.stack.length > REPORT_TEXT_MAX) reason.stack = reason.stack.slice(0, REPORT_TEXT_MAX);
  }
  return reason;
}
