/**
 * What an fd of a process refers to (Entry: the operator's stdin, an
 * operator sink, a pipe end, an open file) and the limits on the writes
 * that wait behind pipes and sinks. FdTable (fd-table.ts) keeps them.
 */
import type { KernelError } from '../abi/errno.ts';
import type { BackendFile } from '../vfs/backend.ts';
import type { Pipe } from './pipe.ts';

/**
 * OutputSink takes what a process writes to the operator (stdout, stderr).
 * If it answers a promise, the chunk is taken once it settles, and the
 * write waits (as at a full pipe); anything else it answers (a stream's
 * write() says true or false) is ignored: taken at once. `cancel` aborts
 * when the process ends (stream-output.ts).
 */
export type OutputSink = (chunk: Uint8Array, cancel?: AbortSignal) => unknown;

/** StreamWriter is the kernel's end of a stream it hands a process as an fd (see FdTable.openStream). */
export interface StreamWriter {
  readonly fd: number;
  /** write blocks while the pipe is full; EPIPE once no reader is left. */
  write(chunk: Uint8Array): number | Promise<number>;
  /** end closes the stream: the reader sees end of file. */
  end(): void;
  /** fail closes the stream with an error the reader gets instead of end of file. */
  fail(err: KernelError): void;
  /** reading: the process still holds the fd. */
  reading(): boolean;
  /** Aborted once the process has closed the fd (or exited): the writer stops then, written or not. */
  readonly unread: AbortSignal;
}

export interface SinkEntry {
  readonly kind: 'sink';
  readonly sink: OutputSink;
}

/** isThenable: `value` is a promise or anything with a then method (what a sink answers when its write waits). */
export const isThenable = (value: unknown): value is PromiseLike<unknown> => value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as { then?: unknown }).then === 'function';

/** Entry is what an fd refers to; pipe ends and sinks may be shared with other processes. */
export type Entry =
  | { readonly kind: 'stdin' }
  | SinkEntry
  | { readonly kind: 'pipe'; readonly pipe: Pipe; readonly end: 'r' | 'w' }
  | {
      readonly kind: 'file';
      readonly file: BackendFile;
      readonly readable: boolean;
      readonly writable: boolean;
      readonly append: boolean;
      position: number;
      /** The write under way on this fd, when its backend answers later (Redis): the next waits for it. */
      writing?: Promise<unknown>;
      /** The byte range written through this fd since open (or since the last flushWritten). */
      written?: { lo: number; hi: number };
    };

/**
 * The most bytes of one process tree's writes that may wait for room in
 * pipes or operator sinks at once: each is a copy the kernel holds until the
 * pipe or the sink takes it. Past it a write that cannot be stored at once is
 * EAGAIN, nothing written (found by an attacker pass: 1,000 asynchronous
 * writes of 1 MiB to a pipe nobody read grew agentd by 2 GB; a review: counted
 * per process, twelve children sharing their root's stdout held 674 MiB). A
 * blocking write holds at most one; a program that awaits its writes never
 * meets it.
 */
export const MAX_BLOCKED_WRITE_BYTES = 16 * 1024 * 1024;
/**
 * What a waiting write counts against MAX_BLOCKED_WRITE_BYTES at the least:
 * about what the kernel holds for it besides its bytes (its promise, waiter
 * and closures). An attacker pass measured ~4 KiB for each of 1,000 waiting
 * 1-byte writes: counted by their bytes, a tree's 65,000 of them held ~260 MiB.
 */
export const WAITING_WRITE_BYTES = 4096;
/** weight is what a write of `data` counts while it waits. */
export const weight = (data: Uint8Array): number => Math.max(data.byteLength, WAITING_WRITE_BYTES);
/** The most pipes one tree has open at once (an end open in any of its processes); each holds up to PIPE_CAPACITY. */
export const MAX_TREE_PIPES = 256;
