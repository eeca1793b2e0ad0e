/**
 * FileDecisionLog appends hash-chained JSONL records to a file.
 *
 * Group commit (the default): records are buffered (write-buffer.ts) and
 * written together, on the next tick or when an action asks:
 * beforeAction(seq), which the dispatcher calls before every write-access
 * action it runs (allowed or approved, a tool call included), writes the
 * buffer — that record and everything before it — with write() before the
 * action runs. Reads ride along; nothing can leave the kernel without a
 * write-access syscall, so no effect is ever ahead of the log. The file is
 * fdatasync'ed every `syncIntervalMs`. Durable mode writes and fdatasyncs
 * every record before record() returns. A kill -9 loses at most the unwritten
 * buffer of records no action waited for; the verifier reports a torn last
 * line.
 *
 * A write that fails or falls short (a full disk) is undone: the file is cut
 * back to its last whole record, the records stay buffered in order (their
 * sequence numbers are kept, so the chain stays contiguous), the action that
 * asked fails closed with ENOSPC or EIO, and `problem` says why until a retry
 * (every `syncIntervalMs`) writes them. Past MAX_UNWRITTEN_BYTES waiting,
 * record() itself fails (EIO), so every decision fails closed.
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
import { close, closeSync, fdatasync, fdatasyncSync, fsync, fsyncSync, ftruncateSync, open, openSync, fstatSync } from 'node:fs';
import { dirname } from 'node:path';
import { KernelError } from '../../abi/errno.ts';
import { Subject } from 'rxjs';
import type { DecisionInput, DecisionRecorder } from '../../syscalls/records.ts';
import { type ChainRecord, recordOf, toChainFields } from './chain.ts';
import { chainTail } from './log-tail.ts';
import { type LogEnd, listSegments, type Segment, segmentOf } from './segments.ts';
import { WriteBuffer } from './write-buffer.ts';

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

/** The most bytes of records kept waiting while the log cannot be written; past it record() fails (EIO) and every decision with it. */
export const MAX_UNWRITTEN_BYTES = 16 * 1024 * 1024;

/** A buffer this large is written at once rather than on the next tick (a long synchronous burst of records). */
const BATCH_BYTES = 1024 * 1024;

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
  /** The records taken and not yet written, as the bytes to write, each sealed into it as it is taken (its hash over those bytes). */
  private readonly pending = new WriteBuffer();
  /** The bytes (UTF-8, as written) of every record taken since the log was opened. */
  private taken = 0;
  /** Why the last write failed (ENOSPC, EIO…), while records wait to be written; undefined when the log is writing. */
  private failure: string | undefined;
  /** Set when a failed write could not be cut back: the file ends torn, and nothing more may be appended after it. */
  private torn = false;
  private scheduled = false;
  private dirty = false;
  private syncing = false;
  private closed = false;
  private seq: number;
  private prev: string;
  /** The last sequence number written to the file, and who waits for later ones. */
  private writtenSeq: number;
  private writeWaiters: { seq: number; resolve: () => void; reject: (err: KernelError) => void }[] = [];
  /** Every record as appended, for live followers (built only while someone subscribes). */
  readonly appended = new Subject<ChainRecord>();
  private readonly onExit = () => this.flushQuietly();

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
    try {
      this.fd = openSync(this.segment.path, 'a+');
    } catch (err) {
      throw new KernelError('EINVAL', `${this.segment.path}: cannot open it as a decision log (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    try {
      const stat = fstatSync(this.fd);
      // A FIFO or a device (/dev/full) takes no chain: refused before anything is written, not failed at the first sync.
      if (!stat.isFile()) throw new KernelError('EINVAL', `${this.segment.path}: not a regular file, so not a decision log`);
      this.size = stat.size;
      const tail = chainTail(this.segment, this.fd, segments.slice(0, -1));
      this.seq = tail.seq;
      this.prev = tail.hash;
      this.writtenSeq = tail.seq;
    } catch (err) {
      closeSync(this.fd);
      throw err;
    }
    this.timer = setInterval(() => {
      if (this.failure !== undefined) this.flushQuietly();
      this.syncInBackground();
    }, options.syncIntervalMs ?? 200);
    this.timer.unref();
    process.on('exit', this.onExit);
  }

  /** bytes is the size, as written, of every record taken since the log was opened (DecisionRecorder.bytes). */
  get bytes(): number {
    return this.taken;
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

  /** problem says why records are waiting to be written (a full disk), or undefined while the log writes. agentd is not ready meanwhile. */
  get problem(): string | undefined {
    return this.failure === undefined ? undefined : `decision log ${this.path} cannot be written (${this.failure}); ${this.pending.records} records wait`;
  }

  /** record appends `entry` and returns its sequence number. EIO when the log is closed, or cannot be written and MAX_UNWRITTEN_BYTES already wait. */
  record(entry: DecisionInput): number {
    if (this.closed) throw new KernelError('EIO', `decision log ${this.path} is closed`);
    if (this.failure !== undefined && this.pending.bytes > MAX_UNWRITTEN_BYTES) throw new KernelError('EIO', `${this.problem!}: nothing more is decided until they are written`);
    // The record's text first: an entry that cannot be recorded (its result cannot be digested) must not take a seq.
    const record = recordOf(toChainFields(entry), this.seq + 1, this.clock(), this.prev);
    const json = JSON.stringify(record);
    const sealed = this.pending.seal(json);
    this.seq++;
    this.prev = sealed.hash;
    // In bytes as written, not characters: a path of 3-byte characters is three times its length (a review).
    this.taken += sealed.bytes;
    if (this.appended.observed) this.appended.next({ ...record, hash: sealed.hash } as ChainRecord);
    if (this.durable) {
      this.flush();
    } else if (this.pending.bytes >= BATCH_BYTES && this.failure === undefined) {
      this.flushQuietly();
    } else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flushQuietly());
    }
    return this.seq;
  }

  /**
   * beforeAction writes record `seq` and every record before it, now, if they
   * are not written yet: the action runs only once they are. Throws ENOSPC or
   * EIO when they cannot be written (and the action never runs).
   */
  beforeAction(seq: number): undefined {
    if (seq > this.writtenSeq) this.flush();
    return undefined;
  }

  /** flushQuietly is the deferred flush: a failure is kept as `problem` (and retried), never thrown into the event loop. */
  private flushQuietly(): void {
    try {
      this.flush();
    } catch {
      // this.failure says why; the next action's beforeAction fails closed, the timer retries
    }
  }

  /**
   * whenWritten resolves once record `seq` is in the file (group commit: the
   * records of one tick share one write). Durable mode also waits for
   * fdatasync. Rejects (ENOSPC, EIO) when the write that should carry it fails.
   */
  whenWritten(seq: number): Promise<void> {
    if (seq <= this.writtenSeq) return Promise.resolve();
    return new Promise((resolve, reject) => this.writeWaiters.push({ seq, resolve, reject }));
  }

  /**
   * flush writes every buffered record, whole: a write that fails or falls
   * short is cut back off the file and the records stay buffered, in order,
   * for the next try. ENOSPC when the disk is full, EIO for any other failure.
   */
  flush(): void {
    this.scheduled = false;
    if (this.closed) return;
    try {
      while (this.pending.records > 0) this.writeSome();
    } finally {
      this.settleWaiters();
    }
    if (this.durable) this.sync();
  }

  /**
   * writeSome writes the first records of the buffer, whole: all of them, or,
   * with segments, as many as fit in the current segment (rolling first if
   * even the first does not; a record never spans two). A write that fails
   * or falls short is cut back off the file and throws; those records stay.
   */
  private writeSome(): void {
    if (this.torn) throw new KernelError('EIO', `${this.problem!}: the action is refused`);
    const pending = this.pending;
    let count = pending.records;
    if (this.segmentBytes > 0) {
      if (this.size > 0 && this.size + pending.endOf(0) > this.rollAt) this.roll();
      count = 1;
      while (count < pending.records && this.size + pending.endOf(count) <= this.rollAt) count++;
    }
    const bytes = pending.writeFirst(this.fd, count, (err, written) => this.failed(err, written));
    this.failure = undefined;
    this.size += bytes;
    this.dirty = true;
    this.writtenSeq = this.seq - pending.records;
  }

  /** settleWaiters resolves whenWritten for every record now written, and rejects the rest if the log is failing. */
  private settleWaiters(): void {
    if (this.writeWaiters.length === 0) return;
    const error = this.failure === undefined ? undefined : new KernelError(this.failure.startsWith('ENOSPC') ? 'ENOSPC' : 'EIO', this.problem!);
    const waiting: typeof this.writeWaiters = [];
    for (const w of this.writeWaiters) {
      if (w.seq <= this.writtenSeq) w.resolve();
      else if (error !== undefined) w.reject(error);
      else waiting.push(w);
    }
    this.writeWaiters = waiting;
  }

  /** failed undoes a write that stopped after `written` bytes (the file ends at its last whole record again) and says why. */
  private failed(err: unknown, written: number): KernelError {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    let cut = '';
    if (written > 0) {
      try {
        ftruncateSync(this.fd, this.size);
      } catch (truncateErr) {
        // The file now ends in a torn record: verify reports it; reopening refuses it until an operator looks. Writing on
        // after it would bury the torn record mid-file, so this log writes nothing more.
        cut = `; the torn tail could not be cut off (${(truncateErr as NodeJS.ErrnoException).code ?? String(truncateErr)}), so nothing more is written`;
        this.torn = true;
      }
    }
    this.failure = `${code}${cut}`;
    return new KernelError(code === 'ENOSPC' ? 'ENOSPC' : 'EIO', `${this.problem!}: the action is refused until they are written`);
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

  /** close flushes, syncs and closes the file. Idempotent. Records that cannot be written then are lost, with a warning that counts them. */
  close(): void {
    if (this.closed) return;
    this.flushQuietly();
    if (this.problem !== undefined) process.emitWarning(`${this.problem}; closing without them`);
    this.dirty = true;
    this.sync();
    this.closed = true;
    clearInterval(this.timer);
    process.off('exit', this.onExit);
    closeSync(this.fd);
  }
}
