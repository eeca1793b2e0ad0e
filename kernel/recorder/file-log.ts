/**
 * FileDecisionLog appends hash-chained JSONL records to a file.
 *
 * Group commit (the default): records are buffered and written together; an
 * allowed syscall that changes something (access `write`) writes the buffer
 * — itself and everything before it — with write() before record() returns,
 * so before the action runs. Reads ride along with the next write or the next
 * tick; nothing can leave the kernel without a write-access syscall, so no
 * effect is ever ahead of the log. The file is fdatasync'ed every
 * `syncIntervalMs`. Durable mode fdatasyncs every record before returning.
 * A kill -9 loses at most the unwritten buffer of read-only records; the
 * verifier reports a torn last line.
 *
 * Segments: with `segmentBytes`, a write that would take the current segment
 * past that size starts the next segment first (segments.ts names them);
 * sequence numbers and the chain run on, so the first record of a segment
 * names the last hash of the one before. A write is never split, so a
 * segment ends with a whole record. The finished segment is fdatasync'ed and
 * closed, the directory synced so the new name lasts. Reopening continues
 * the last segment (or, when a roll was cut short and left it empty, the
 * chain of the one before it).
 */
import { close, closeSync, fdatasync, fdatasyncSync, fsync, fsyncSync, open, openSync, readSync, fstatSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { KernelError } from '../../syscalls/errno.ts';
import { Subject } from 'rxjs';
import type { DecisionInput, DecisionRecorder } from '../../syscalls/context.ts';
import { body, type ChainRecord, GENESIS, seal, toChainFields } from './chain.ts';
import { type LogEnd, listSegments, type Segment, segmentOf } from './segments.ts';

export interface FileLogOptions {
  /** fdatasync before every record() returns. */
  durable?: boolean;
  /** How often group commit fdatasyncs, ms. Default 200. */
  syncIntervalMs?: number;
  /** Clock for record times (ms since the epoch). */
  clock?: () => number;
  /** Start a new segment rather than grow one past this many bytes. Default: one file for ever. */
  segmentBytes?: number;
  /** Called when a new segment has been opened, before anything is written to it. */
  onRoll?: (segment: Segment) => void;
}

const TAIL_BYTES = 64 * 1024;

/** readTail finds the last record's seq and hash in `fd` (null if the file is empty). */
function readTail(fd: number, path: string): { seq: number; hash: string } | null {
  const size = fstatSync(fd).size;
  if (size === 0) return null;
  const length = Math.min(size, TAIL_BYTES);
  const buf = Buffer.alloc(length);
  readSync(fd, buf, 0, length, size - length);
  const text = buf.toString('utf8');
  if (!text.endsWith('\n')) throw new KernelError('EIO', `${path} ends in a torn record; run 'agentctl audit verify ${path}' and start a new log`);
  const lines = text.slice(0, -1).split('\n');
  const last = lines[lines.length - 1] ?? '';
  try {
    const record = JSON.parse(last) as { seq?: unknown; hash?: unknown };
    if (typeof record.seq === 'number' && typeof record.hash === 'string') return { seq: record.seq, hash: record.hash };
  } catch {
    // fall through
  }
  throw new KernelError('EIO', `${path}: the last record cannot be read; run 'agentctl audit verify ${path}'`);
}

/**
 * chainTail finds where the chain of a log stops: the last record of the last
 * segment that holds one, before `current` (whose `fd` is open) or in it.
 * EIO if that segment's tail is torn or unreadable.
 */
function chainTail(current: Segment, fd: number, earlier: readonly Segment[]): { seq: number; hash: string } {
  const own = readTail(fd, current.path);
  if (own !== null) return own;
  for (let i = earlier.length - 1; i >= 0; i--) {
    const segment = earlier[i]!;
    const other = openSync(segment.path, 'r');
    try {
      const tail = readTail(other, segment.path);
      if (tail !== null) return tail;
    } finally {
      closeSync(other);
    }
  }
  return { seq: 0, hash: GENESIS };
}

export class FileDecisionLog implements DecisionRecorder {
  /** The log's own path: its first segment, and the name of all of them. */
  readonly path: string;
  private fd: number;
  private segment: Segment;
  /** Bytes in the current segment. */
  private size: number;
  private readonly segmentBytes: number;
  /** Roll once the current segment would pass this size (later than segmentBytes after a roll failed). */
  private rollAt: number;
  private readonly onRoll: ((segment: Segment) => void) | undefined;
  /** The background fdatasync in flight, if any: a finished segment is closed only after it. */
  private inFlight: Promise<void> | undefined;
  private readonly durable: boolean;
  private readonly clock: () => number;
  private readonly timer: NodeJS.Timeout;
  private pending: string[] = [];
  private scheduled = false;
  private dirty = false;
  private syncing = false;
  private closed = false;
  private seq: number;
  private prev: string;
  /** The last sequence number written to the file, and who waits for later ones. */
  private writtenSeq: number;
  private writeWaiters: { seq: number; resolve: () => void }[] = [];
  /** Every record as appended, for live followers (built only while someone subscribes). */
  readonly appended = new Subject<ChainRecord>();
  private readonly onExit = () => this.flush();

  /**
   * FileDecisionLog opens (or creates) the log at `path` for appending, in
   * its last segment. EIO if the tail is torn; RangeError for a
   * `segmentBytes` that is not a positive integer; file errors as they are.
   */
  constructor(path: string, options: FileLogOptions = {}) {
    this.path = path;
    this.durable = options.durable ?? false;
    this.clock = options.clock ?? Date.now;
    const segmentBytes = options.segmentBytes ?? 0;
    if (!Number.isSafeInteger(segmentBytes) || segmentBytes < 0) throw new RangeError(`segmentBytes must be a positive integer, not ${segmentBytes}`);
    this.segmentBytes = segmentBytes;
    this.rollAt = segmentBytes;
    this.onRoll = options.onRoll;
    const segments = listSegments(path);
    this.segment = segments.at(-1) ?? segmentOf(path, 1);
    this.fd = openSync(this.segment.path, 'a+');
    try {
      this.size = fstatSync(this.fd).size;
      const tail = chainTail(this.segment, this.fd, segments.slice(0, -1));
      this.seq = tail.seq;
      this.prev = tail.hash;
      this.writtenSeq = tail.seq;
    } catch (err) {
      closeSync(this.fd);
      throw err;
    }
    this.timer = setInterval(() => this.syncInBackground(), options.syncIntervalMs ?? 200);
    this.timer.unref();
    process.on('exit', this.onExit);
  }

  /** count is the sequence number of the last record. */
  get count(): number {
    return this.seq;
  }

  /** head is the hash of the last record, for anchoring the chain elsewhere. */
  get head(): string {
    return this.prev;
  }

  /** current is the segment being written. */
  get current(): Segment {
    return this.segment;
  }

  /** flushedEnd writes every buffered record and says where the last one ends, for readers of a live log. EIO as flush. */
  flushedEnd(): LogEnd {
    this.flush();
    return { segment: this.segment.index, bytes: this.size };
  }

  /** record appends `entry` and returns its sequence number. */
  record(entry: DecisionInput): number {
    if (this.closed) throw new KernelError('EIO', `decision log ${this.path} is closed`);
    this.seq++;
    const unsealed: Omit<ChainRecord, 'hash'> = toChainFields(entry) as Omit<ChainRecord, 'hash'>;
    unsealed.seq = this.seq;
    unsealed.time = this.clock();
    unsealed.prev = this.prev;
    const sealed = seal(body(unsealed));
    this.prev = sealed.hash;
    this.pending.push(sealed.line);
    if (this.appended.observed) this.appended.next({ ...unsealed, hash: sealed.hash } as ChainRecord);
    const beforeAction = entry.type === 'syscall' && entry.effect === 'allow' && entry.access === 'write';
    if (this.durable || beforeAction) {
      this.flush();
    } else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
    return this.seq;
  }

  /**
   * whenWritten resolves once record `seq` is in the file (group commit: the
   * records of one tick share one write). Durable mode also waits for fdatasync.
   */
  whenWritten(seq: number): Promise<void> {
    if (seq <= this.writtenSeq) return Promise.resolve();
    return new Promise((resolve) => this.writeWaiters.push({ seq, resolve }));
  }

  /** flush writes every buffered record. EIO if the write fails. */
  flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0 || this.closed) return;
    const data = this.pending.length === 1 ? this.pending[0]! : this.pending.join('');
    this.pending = [];
    if (this.segmentBytes > 0 && this.size > 0 && this.size + data.length > this.rollAt) this.roll();
    try {
      this.size += writeSync(this.fd, data);
    } catch (err) {
      throw new KernelError('EIO', `cannot write decision log ${this.path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    this.dirty = true;
    if (this.durable) this.sync();
    this.writtenSeq = this.seq;
    if (this.writeWaiters.length > 0) {
      const waiters = this.writeWaiters;
      this.writeWaiters = [];
      for (const w of waiters) w.resolve();
    }
  }

  private sync(): void {
    if (!this.dirty || this.closed) return;
    this.dirty = false;
    fdatasyncSync(this.fd);
  }

  /** syncInBackground is group commit's periodic fdatasync, on libuv's pool so the event loop never waits for the disk. */
  private syncInBackground(): void {
    if (!this.dirty || this.closed || this.syncing) return;
    this.dirty = false;
    this.syncing = true;
    this.inFlight = new Promise((resolve) =>
      fdatasync(this.fd, () => {
        this.syncing = false;
        this.inFlight = undefined;
        resolve();
      }),
    );
  }

  /**
   * roll starts the next segment. If it cannot be created the records go on
   * into the current one (a roll never loses a record) and the next attempt
   * waits for another segment's worth; a warning names the error.
   */
  private roll(): void {
    const next = segmentOf(this.path, this.segment.index + 1);
    let fd: number;
    try {
      fd = openSync(next.path, 'ax');
    } catch (err) {
      this.rollAt = this.size + this.segmentBytes;
      process.emitWarning(`decision log: cannot start segment ${next.path} (${(err as NodeJS.ErrnoException).code ?? String(err)}); writing on in ${this.segment.path}`);
      return;
    }
    const finished = this.fd;
    this.fd = fd;
    this.segment = next;
    this.size = 0;
    this.rollAt = this.segmentBytes;
    this.dirty = false;
    if (this.durable) {
      fdatasyncSync(finished);
      closeSync(finished);
    } else {
      const after = this.inFlight ?? Promise.resolve();
      void after.then(() => fdatasync(finished, () => close(finished, () => {})));
    }
    this.syncDirectory();
    try {
      this.onRoll?.(next);
    } catch {
      // an observer never stops the log
    }
  }

  /** syncDirectory makes a new segment's name durable: at once in durable mode, in the background otherwise. Best effort. */
  private syncDirectory(): void {
    const dir = dirname(this.path);
    if (this.durable) {
      try {
        const fd = openSync(dir, 'r');
        try {
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
      } catch {
        // some file systems cannot sync a directory; the segment's data is synced all the same
      }
      return;
    }
    open(dir, 'r', (err, fd) => {
      if (err) return;
      fsync(fd, () => close(fd, () => {}));
    });
  }

  /** close flushes, syncs and closes the file. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.dirty = true;
    this.sync();
    this.closed = true;
    clearInterval(this.timer);
    process.off('exit', this.onExit);
    closeSync(this.fd);
  }
}
