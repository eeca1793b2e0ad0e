/**
 * Worker-thread entry for log scans (kernel/service/log-scans.ts): each
 * message is a ScanJob; the answer is `{ ok: true, value }` or
 * `{ ok: false, error, code }`. One job at a time.
 */
import { parentPort } from 'node:worker_threads';
import { runScanJob, type ScanJob } from './scan-jobs.ts';

// oxlint-disable unicorn/require-post-message-target-origin -- a worker_threads port, not window.postMessage
parentPort?.on('message', (job: ScanJob) => {
  try {
    parentPort!.postMessage({ ok: true, value: runScanJob(job) });
  } catch (err) {
    parentPort!.postMessage({ ok: false, error: err instanceof Error ? err.message : String(err), code: (err as NodeJS.ErrnoException).code });
  }
});
