/**
 * The operator's stdout and stderr as an agent's output sink, with
 * back-pressure: a Node stream queues whatever it is given while its reader
 * is slow, so a sink that wrote every chunk at once grew the kernel without
 * bound (found by an attacker pass: `agentctl run flood.mjs | sleep 9` grew
 * by 400 MiB/s, and held 2 GB after the agent's wall limit killed it). Here
 * at most HIGH_WATER bytes wait in the stream; a write past them waits, as a
 * write to a full pipe does, until the stream drains (the writer's own
 * limit of waiting bytes is its tree's: FdTable's), and a write whose
 * process ends meanwhile is dropped. When the stream closes, what waits is
 * dropped as the stream drops what it is given then (bin/closed-console.ts:
 * a closed stderr loses its text, the command goes on); refusing it killed
 * agents whose stderr closed, depending on timing (a review).
 */
import { KernelError } from '../abi/errno.ts';
import type { OutputSink } from './fd-entries.ts';

/** The most bytes an output stream holds for its reader before writers wait. */
export const HIGH_WATER = 1024 * 1024;

/** The part of a Node writable stream the sink uses. */
export interface OutputStream {
  readonly writableLength: number;
  readonly writableHighWaterMark: number;
  readonly destroyed: boolean;
  write(chunk: Uint8Array): boolean;
  on(event: 'drain' | 'close', listener: () => void): unknown;
  off(event: 'drain' | 'close', listener: () => void): unknown;
}

interface Held {
  readonly chunk: Uint8Array;
  readonly taken: () => void;
  readonly refused: (err: KernelError) => void;
  readonly cancel: AbortSignal | undefined;
  readonly cancelled: () => void;
}

/** StreamSink is the OutputSink streamOutput makes: a promise when the write waits. */
export type StreamSink = (chunk: Uint8Array, cancel?: AbortSignal) => Promise<void> | undefined;

/** streamOutput is an OutputSink over `stream`: chunks go in order; past `mark` bytes held by the stream (at least its own high-water mark), a write's promise settles once its chunk is taken. */
export function streamOutput(stream: OutputStream, mark = HIGH_WATER): StreamSink {
  // A stream emits 'drain' only after a write it was given found it at its own mark: never wait below that.
  const high = Math.max(mark, stream.writableHighWaterMark);
  const held: Held[] = [];
  const settle = (h: Held) => h.cancel?.removeEventListener('abort', h.cancelled);
  const stopListening = () => {
    stream.off('drain', drained);
    stream.off('close', closed);
  };
  function drained(): void {
    while (held.length > 0 && stream.writableLength < high) {
      const h = held.shift()!;
      settle(h);
      stream.write(h.chunk);
      h.taken();
    }
    if (held.length === 0) stopListening();
  }
  function closed(): void {
    stopListening();
    for (const h of held.splice(0)) {
      settle(h);
      h.taken();
    }
  }
  return (chunk, cancel) => {
    if (held.length === 0 && (stream.writableLength < high || stream.destroyed)) {
      stream.write(chunk);
      return undefined;
    }
    return new Promise<void>((taken, refused) => {
      const h: Held = {
        chunk,
        taken,
        refused,
        cancel,
        cancelled: () => {
          const at = held.indexOf(h);
          if (at >= 0) held.splice(at, 1);
          if (held.length === 0) stopListening();
          refused(new KernelError('EINTR', 'the process ended while its write waited for the output stream'));
        },
      };
      if (held.length === 0) {
        stream.on('drain', drained);
        stream.on('close', closed);
      }
      held.push(h);
      cancel?.addEventListener('abort', h.cancelled, { once: true });
    });
  };
}

let own: { stdout: OutputSink; stderr: OutputSink } | undefined;
const owned = () => (own ??= { stdout: streamOutput(process.stdout), stderr: streamOutput(process.stderr) });

/** processOutput is this process's own stdout and stderr as sinks: one each, shared by every agent that writes there (made on first use). */
export const processOutput = {
  get stdout(): OutputSink {
    return owned().stdout;
  },
  get stderr(): OutputSink {
    return owned().stderr;
  },
};
