/**
 * Reading decision logs of any size with flat memory: files are read in
 * chunks into one reused buffer and split into lines as they come. A line
 * split across chunks is carried over, but never more than `maxLineBytes` of
 * it: a longer line is delivered as `overlong` (its first `maxLineBytes`
 * bytes), the rest skipped up to its newline. Lines are bytes; a consumer
 * decodes the ones it keeps (UTF-8 never has a 0x0a inside a character, so
 * splitting bytes at newlines is safe).
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { KernelError } from '../../abi/errno.ts';

/** The size of each read. */
export const DEFAULT_CHUNK_BYTES = 1 << 20;
/** The longest line taken for a record: a record is a few hundred bytes; 1 MiB is far past any real one. */
export const MAX_LINE_BYTES = 1 << 20;

/** line: a complete line; overlong: a complete line longer than the maximum (cut); torn: the unterminated end of the input. */
export type LineKind = 'line' | 'overlong' | 'torn';

/** LineSink receives each line without its newline. `bytes` is a view valid only during the call. */
export type LineSink = (bytes: Buffer, kind: LineKind) => void;

export interface ChunkOptions {
  /** Bytes per read (default 1 MiB). */
  readonly chunkBytes?: number;
  /** The longest line kept whole (default 1 MiB). */
  readonly maxLineBytes?: number;
}

/**
 * LineSplitter turns chunks into lines for `sink`. It keeps at most
 * `maxLineBytes` of a line that spans chunks.
 */
export class LineSplitter {
  private readonly sink: LineSink;
  private readonly max: number;
  private carry: Buffer;
  private carried = 0;
  private overlong = false;

  constructor(sink: LineSink, maxLineBytes = MAX_LINE_BYTES) {
    if (!Number.isInteger(maxLineBytes) || maxLineBytes < 1) throw new RangeError(`maxLineBytes must be a positive integer, not ${maxLineBytes}`);
    this.sink = sink;
    this.max = maxLineBytes;
    this.carry = Buffer.allocUnsafe(Math.min(maxLineBytes, 4096));
  }

  /** push splits `chunk`; the sink is called for every line it completes. */
  push(chunk: Buffer): void {
    let start = 0;
    for (let nl = chunk.indexOf(10, start); nl >= 0; nl = chunk.indexOf(10, start)) {
      if (this.carried === 0 && !this.overlong) {
        if (nl - start > this.max) this.sink(chunk.subarray(start, start + this.max), 'overlong');
        else this.sink(chunk.subarray(start, nl), 'line');
      } else {
        this.append(chunk, start, nl);
        const kind = this.overlong ? 'overlong' : 'line';
        const bytes = this.carry.subarray(0, this.carried);
        this.carried = 0;
        this.overlong = false;
        this.sink(bytes, kind);
      }
      start = nl + 1;
    }
    if (start < chunk.length) this.append(chunk, start, chunk.length);
  }

  /** end delivers an unterminated last line, if any, as `torn`, and resets the splitter. */
  end(): void {
    if (this.carried === 0 && !this.overlong) return;
    const bytes = this.carry.subarray(0, this.carried);
    this.carried = 0;
    this.overlong = false;
    this.sink(bytes, 'torn');
  }

  private append(chunk: Buffer, from: number, to: number): void {
    const room = this.max - this.carried;
    let n = to - from;
    if (n > room) {
      n = room;
      this.overlong = true;
    }
    if (n === 0) return;
    if (this.carried + n > this.carry.length) {
      const grown = Buffer.allocUnsafe(Math.min(this.max, Math.max(this.carry.length * 2, this.carried + n)));
      this.carry.copy(grown, 0, 0, this.carried);
      this.carry = grown;
    }
    chunk.copy(this.carry, this.carried, from, from + n);
    this.carried += n;
  }
}

/** How a file is read in chunks: their size, and how far (`limit` bytes; with `exactly`, the file must hold them all). */
export interface ChunkRead {
  readonly chunkBytes?: number;
  readonly limit?: number;
  readonly exactly?: boolean;
}

/**
 * chunksOf yields the file open as `fd`, from its start, in chunks of
 * `chunkBytes` (views into one reused buffer: each is valid until the next is
 * asked for), stopping after `limit` bytes when given. With `exactly`, a
 * file that now ends before `limit` is EIO (it changed since its size was
 * taken). Read errors are thrown as they are.
 */
export function* chunksOf(fd: number, options: ChunkRead = {}): Generator<Buffer, void, void> {
  const chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  if (!Number.isInteger(chunkBytes) || chunkBytes < 1) throw new RangeError(`chunkBytes must be a positive integer, not ${chunkBytes}`);
  const buffer = Buffer.allocUnsafe(options.limit === undefined ? chunkBytes : Math.max(1, Math.min(chunkBytes, options.limit)));
  let position = 0;
  for (;;) {
    const want = options.limit === undefined ? chunkBytes : Math.min(chunkBytes, options.limit - position);
    if (want <= 0) return;
    const n = readSync(fd, buffer, 0, want, position);
    if (n === 0) {
      if (options.exactly === true && options.limit !== undefined) throw new KernelError('EIO', `it now ends at byte ${position}, before the ${options.limit} bytes checked`);
      return;
    }
    position += n;
    yield buffer.subarray(0, n);
  }
}

/**
 * readChunks yields `path` in chunks (chunksOf). Errors from open and read
 * (ENOENT, EACCES, EISDIR…) are thrown as they are; a path that is not a
 * regular file (a FIFO would hang the open, a device never end) is EINVAL.
 */
export function* readChunks(path: string, options: ChunkRead = {}): Generator<Buffer, void, void> {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw new KernelError('EINVAL', 'not a regular file');
  }
  try {
    yield* chunksOf(fd, options);
  } finally {
    closeSync(fd);
  }
}

/** readLines feeds every line of `path` (up to `limit` bytes) to `sink`, the unterminated end as `torn`. */
export function readLines(path: string, sink: LineSink, options: ChunkOptions & { limit?: number } = {}): void {
  const splitter = new LineSplitter(sink, options.maxLineBytes);
  for (const chunk of readChunks(path, options)) splitter.push(chunk);
  splitter.end();
}
