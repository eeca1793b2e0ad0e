/**
 * What isolated-vm reports when a host→isolate call (or a compile or run
 * inside one) fails: its own stop of the isolate (out of memory, disposed),
 * or a promise the program rejected with no handler, whose reason the host
 * holds a copy of. The Sandbox hands such reasons back to the program
 * (RejectionReports), within these bounds.
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

/**
 * RejectionReports follows a sandbox's host→isolate calls to their end.
 * isolated-vm ends each call with a look at the promises the program
 * rejected with no handler (once the call's promise jobs have run), and
 * fails the call with the first, its own work done: that rejection goes to
 * the runtime's `rejected` entry (`handBack`), where 'unhandledRejection'
 * listeners (else 'uncaughtException' ones) take it or it ends the program,
 * as in Node; one a listener leaves goes the same way. What the kernel
 * stopped (out of memory, a disposed isolate: `reportable` says no) fails
 * the call as before.
 */
export class RejectionReports {
  /** Characters of text in the rejections reported so far (REPORTS_TEXT_MAX). */
  private text = 0;
  private readonly reportable: (err: unknown) => boolean;
  private readonly handBack: (reason: unknown) => Promise<unknown>;

  constructor(reportable: (err: unknown) => boolean, handBack: (reason: unknown) => Promise<unknown>) {
    this.reportable = reportable;
    this.handBack = handBack;
  }

  /** follow is `call`'s result once no report is left; it fails with what stopped the isolate, or with a report past the process's share. */
  async follow(call: Promise<unknown>): Promise<unknown> {
    for (;;) {
      let result: unknown;
      // The call's own report, if it ended with one (a reason may be undefined); a listener's comes round again (the loop).
      let report: { readonly reason: unknown } | undefined;
      try {
        result = await call;
      } catch (err) {
        if (!this.reportable(err)) throw err;
        report = { reason: err };
      }
      if (report === undefined) return result;
      const reason = report.reason;
      this.text += textOf(reason);
      // Past its share, a report ends the process (the sandbox's failedEntry), listeners or not.
      if (this.text > REPORTS_TEXT_MAX) throw bounded(reason);
      const next = bounded(reason);
      if (!this.reportable(next)) return result;
      try {
        call = this.handBack(next);
      } catch {
        // Not the isolate's report (it could not be copied back in): the call failed with it, as before.
        throw next;
      }
    }
  }
}
