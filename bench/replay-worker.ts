/**
 * Worker-thread entry for the replay benchmark (bench/replay.ts): each
 * message is a ReplayJob; the answer is `{ ok: true, value: { rate,
 * changed } }` or `{ ok: false, error }`. A thread of its own, as `agentctl
 * replay` is a process of its own.
 */
import { parentPort } from 'node:worker_threads';
import { type ReplayJob, replayPolicy, replayRate } from './replay.ts';

// oxlint-disable unicorn/require-post-message-target-origin -- a worker_threads port, not window.postMessage
parentPort?.on('message', (job: ReplayJob) => {
  try {
    parentPort!.postMessage({ ok: true, value: replayRate(job.file, replayPolicy(job.policy), job.records) });
  } catch (err) {
    parentPort!.postMessage({ ok: false, error: err instanceof Error ? err.message : String(err) });
  }
});
