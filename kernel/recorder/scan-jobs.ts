/**
 * The work a log scan does off the event loop (scan-worker.ts runs it in a
 * worker thread for agentd): verify a log, or query it (log-query.ts) and
 * lay the records out as the JSON array /v1/decisions answers.
 */
import type { RecordFilter } from './query.ts';
import { queryLog } from './log-query.ts';
import type { LogEnd } from './segments.ts';
import { type FileVerifyResult, verifyLogFile } from './verify-file.ts';
import type { WrittenEnd } from './verify.ts';

export interface VerifyJob {
  readonly op: 'verify';
  readonly base: string;
  readonly end?: LogEnd;
  readonly expectHead?: string;
  /** What the live log's writer wrote up to `end` (its count and head then): a log that ends elsewhere fails. */
  readonly written?: WrittenEnd;
}

export interface QueryJob {
  readonly op: 'query';
  readonly base: string;
  readonly end?: LogEnd;
  readonly filter: RecordFilter;
  readonly limit: number;
  /** The most characters of records in the answer; older matches go first. */
  readonly maxChars: number;
}

/** QueryAnswer is the matching records as a JSON array text (the lines as written). */
export interface QueryAnswer {
  readonly json: string;
  readonly records: number;
  /** Matches the limit would have taken were left out to stay within `maxChars`. */
  readonly truncated: boolean;
}

export type ScanJob = VerifyJob | QueryJob;
export type ScanAnswer<J extends ScanJob> = J extends VerifyJob ? FileVerifyResult : QueryAnswer;

/** runScanJob does `job` synchronously. File errors (ENOENT, EACCES…) are thrown as they are. */
export function runScanJob<J extends ScanJob>(job: J): ScanAnswer<J> {
  if (job.op === 'verify') {
    const { end, expectHead, written } = job;
    return verifyLogFile(job.base, { ...(end ? { end } : {}), ...(expectHead !== undefined ? { expectHead } : {}), ...(written ? { written } : {}) }) as ScanAnswer<J>;
  }
  const found = queryLog(job.base, job.filter, { limit: job.limit, maxChars: job.maxChars, ...(job.end ? { end: job.end } : {}) });
  return { json: `[${found.lines.join(',')}]`, records: found.lines.length, truncated: found.truncated } as ScanAnswer<J>;
}
