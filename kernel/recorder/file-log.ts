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
 */
import { closeSync, fdatasync, fdatasyncSync, openSync, readSync, fstatSync, writeSync } from 'node:fs';
import { KernelError } from '../../syscalls/errno.ts';
import { Subject } from 'rxjs';
import type { DecisionInput, DecisionRecorder } from '../../syscalls/context.ts';
import { body, type ChainRecord, GENESIS, seal, toChainFields } from './chain.ts';

export interface FileLogOptions {
  /** fdatasync before every record() returns. */
  durable?: boolean;
  /** How often group commit fdatasyncs, ms. Default 200. */
  syncIntervalMs?: number;
  /** Clock for record times (ms since the epoch). */
  clock?: () => number;
}

const TAIL_BYTES = 64 * 1024;

/** readTail finds the last record's seq and hash, so a reopened log continues its chain. */
function readTail(fd: number, path: string): { seq: number; hash: string } {
  const size = fstatSync(fd).size;
  if (size === 0) return { seq: 0, hash: GENESIS };
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

export class FileDecisionLog implements DecisionRecorder {
  readonly path: string;
  private readonly fd: number;
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

  /** FileDecisionLog opens (or creates) `path` for appending; EIO if its tail is torn. */
  constructor(path: string, options: FileLogOptions = {}) {
    this.path = path;
    this.durable = options.durable ?? false;
    this.clock = options.clock ?? Date.now;
    this.fd = openSync(path, 'a+');
    try {
      const tail = readTail(this.fd, path);
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
    try {
      writeSync(this.fd, data);
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
    fdatasync(this.fd, () => {
      this.syncing = false;
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
