/**
 * answerJobs is the worker's side of WorkerJobs (worker-jobs.ts): each
 * message is a job, answered `{ ok: true, value }` or `{ ok: false, error,
 * code }`. One job at a time.
 */
import { parentPort } from 'node:worker_threads';

export function answerJobs<Job>(run: (job: Job) => unknown): void {
  // oxlint-disable unicorn/require-post-message-target-origin -- a worker_threads port, not window.postMessage
  parentPort?.on('message', (job: Job) => {
    try {
      parentPort!.postMessage({ ok: true, value: run(job) });
    } catch (err) {
      parentPort!.postMessage({ ok: false, error: err instanceof Error ? err.message : String(err), code: (err as NodeJS.ErrnoException).code });
    }
  });
}
