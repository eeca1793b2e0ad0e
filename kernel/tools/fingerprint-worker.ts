/**
 * The fingerprint worker: a worker thread that takes the fingerprints of
 * large written content, so a big write's close never holds the kernel's
 * event loop. Messages: { id, bytes } in; { id, prints, ns } out (the
 * fingerprints and the CPU time spent, to charge to the agent).
 */
import { parentPort } from 'node:worker_threads';
import { fingerprints } from './fingerprint.ts';

const decoder = new TextDecoder();

parentPort?.on('message', (message: { id: number; bytes: Uint8Array }) => {
  const started = performance.now();
  const prints = Float64Array.from(fingerprints(decoder.decode(message.bytes)));
  parentPort!.postMessage({ id: message.id, prints, ns: (performance.now() - started) * 1e6 }, [prints.buffer]);
});
