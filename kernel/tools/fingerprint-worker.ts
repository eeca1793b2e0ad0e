/**
 * The fingerprint worker: a worker thread that takes the fingerprints of
 * large written content, so a big write's close never holds the kernel's
 * event loop. It answers each distinct fingerprint once (sorted), and at most
 * `max` of them (more saturates the tracker anyway), so what the kernel
 * takes back is bounded by what is distinct, not by the size of the write.
 * Messages: { id, bytes, max } in; { id, prints, ns } out (the fingerprints
 * and the CPU time spent, to charge to the agent).
 */
import { parentPort } from 'node:worker_threads';
import { fingerprints } from './fingerprint.ts';

const decoder = new TextDecoder();

/** distinct sorts `prints` and keeps each value once, at most `max` of them. */
function distinct(prints: Float64Array, max: number): Float64Array {
  const sorted = prints.toSorted();
  let n = 0;
  for (let i = 0; i < sorted.length && n < max; i++) if (i === 0 || sorted[i] !== sorted[i - 1]) sorted[n++] = sorted[i]!;
  return sorted.slice(0, n);
}

parentPort?.on('message', (message: { id: number; bytes: Uint8Array; max: number }) => {
  const started = performance.now();
  const prints = distinct(fingerprints(decoder.decode(message.bytes)), message.max);
  parentPort!.postMessage({ id: message.id, prints, ns: (performance.now() - started) * 1e6 }, [prints.buffer as ArrayBuffer]);
});
