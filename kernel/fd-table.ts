/**
 * FdTable is one process's open files. fds 0, 1 and 2 start as the
 * operator's stdin (end of file), stdout and stderr, or as pipe ends a parent
 * passed at spawn; the rest come from open() and pipe(). The lowest free
 * number is reused, as in POSIX. EMFILE past the limit; EBADF for an fd that
 * is not open, or not open in the needed direction; EFBIG past the output
 * limit on fds written to the operator.
 */
import { KernelError } from '../abi/errno.ts';
import type { Files } from '../syscalls/context.ts';
import type { BackendFile, OpenMode } from '../vfs/backend.ts';
import type { AgentVfs, OpenedFile } from '../vfs/agent-vfs.ts';
import { andThen, type MaybePromise } from '../vfs/maybe.ts';
import type { OutputBudget } from './lineage.ts';
import { Pipe, PIPE_CAPACITY } from './pipe.ts';
import { type Entry, isThenable, MAX_BLOCKED_WRITE_BYTES, MAX_TREE_PIPES, type OutputSink, type SinkEntry, type StreamWriter, WAITING_WRITE_BYTES, weight } from './fd-entries.ts';

const EMPTY = new Uint8Array(0);
/** Bytes around a written range that are reported with it (see report). */
const WRITTEN_MARGIN = 512;
/** A written range larger than this is reported a slice at a time, each overlapping the one before by WRITTEN_MARGIN. */
const REPORT_SLICE = 1 << 20;

/**
 * reportInSlices hands [from, to) of `file` to `onWritten` in overlapping
 * slices, the event loop turning between them (the close waits; only its
 * caller blocks). The overlap keeps every run of up to WRITTEN_MARGIN
 * characters whole in some slice, so the guard still finds it.
 */
async function reportInSlices(file: BackendFile, from: number, to: number, onWritten: (content: Uint8Array) => MaybePromise<void>): Promise<void> {
  for (let at = from; at < to; at += REPORT_SLICE) {
    const start = at === from ? at : at - WRITTEN_MARGIN;
    await onWritten(await file.read(Math.min(to, at + REPORT_SLICE) - start, start));
    await new Promise((resolve) => setImmediate(resolve));
  }
}

export interface FdTableOptions {
  stdin?: Entry;
  stdout: Entry;
  stderr: Entry;
  /** Open files, counting 0–2. */
  limit: number;
  /** Bytes the process (with the rest of its tree) may write to operator sinks. */
  output?: OutputBudget;
  /** Called with what an fd wrote to a file (and a margin around it) when it is closed or flushed: the write-then-execute guard's feed; a promise makes the close wait (back-pressure). */
  onWritten?: (content: Uint8Array) => MaybePromise<void>;
}

export class FdTable implements Files {
  private readonly entries = new Map<number, Entry>();
  private readonly vfs: AgentVfs;
  private readonly limit: number;
  /** Opens under way (on a Redis mount, an open waits): each holds its fd's place against the limit. */
  private opening = 0;
  /** True once the process ended (closeAll): no fd is given out after. */
  private ended = false;
  private readonly output: OutputBudget;
  private readonly onWritten: ((content: Uint8Array) => MaybePromise<void>) | undefined;

  constructor(vfs: AgentVfs, options: FdTableOptions) {
    this.vfs = vfs;
    this.limit = options.limit;
    this.output = options.output ?? { used: 0, limit: Number.POSITIVE_INFINITY, waiting: 0, waitsIn: new Map(), pipes: 0 };
    this.onWritten = options.onWritten;
    this.install(0, options.stdin ?? { kind: 'stdin' });
    this.install(1, options.stdout);
    this.install(2, options.stderr);
  }

  /** sink wraps an output function as an fd entry. */
  static sink(sink: OutputSink): Entry {
    return { kind: 'sink', sink };
  }

  get size(): number {
    return this.entries.size;
  }

  private install(fd: number, entry: Entry): void {
    if (entry.kind === 'pipe') entry.pipe.open(entry.end);
    this.entries.set(fd, entry);
  }

  private allocate(entry: Entry): number {
    // A call that finished after the process ended (an open on a Redis mount, a fetch's stream) gets no fd: it would
    // never be closed (an attacker pass: a stream installed after closeAll kept one of the tree's pipes for good).
    if (this.ended) throw new KernelError('EBADF', 'the process has ended: its files are closed');
    if (this.entries.size >= this.limit) throw new KernelError('EMFILE', `too many open files (limit ${this.limit})`);
    let fd = 0;
    while (this.entries.has(fd)) fd++;
    this.install(fd, entry);
    return fd;
  }

  private get(fd: number): Entry {
    const entry = this.entries.get(fd);
    if (entry === undefined) throw new KernelError('EBADF', `fd ${fd} is not open`);
    return entry;
  }

  /** kindOf is what `fd` refers to ('stdin', 'sink', 'pipe', 'file'), or undefined if it is not open. */
  kindOf(fd: number): Entry['kind'] | undefined {
    return this.entries.get(fd)?.kind;
  }

  /** reserve takes fd number `fd`, if free, with an entry that reads as end of file (a replay keeps a recorded fetch body's number so). */
  reserve(fd: number): void {
    if (!this.entries.has(fd)) this.install(fd, { kind: 'stdin' });
  }

  /** share returns what `fd` refers to, for passing to a child (pipe ends and sinks only). */
  share(fd: number): Entry {
    const entry = this.get(fd);
    if (entry.kind === 'file') throw new KernelError('EINVAL', `fd ${fd} is a file; only pipes and stdio can be passed to a child`);
    return entry;
  }

  /**
   * open opens `path` in a new fd. Its fd is counted from the start (`opening`): an open that waits on a Redis mount
   * created or truncated the file, then found the table full and answered EMFILE (an attacker pass: four files
   * emptied by opens that were refused).
   */
  open(path: string, mode: OpenMode): MaybePromise<number> {
    if (this.entries.size + this.opening >= this.limit) throw new KernelError('EMFILE', `too many open files (limit ${this.limit})`);
    const readable = mode === 'r' || mode.endsWith('+');
    this.opening++;
    let opened: MaybePromise<OpenedFile>;
    try {
      opened = this.vfs.open(path, mode);
    } catch (err) {
      this.opening--;
      throw err;
    }
    const allocate = ({ file }: OpenedFile) => {
      this.opening--;
      try {
        return this.allocate({ kind: 'file', file, readable, writable: mode !== 'r', append: mode.startsWith('a'), position: 0 });
      } catch (err) {
        // Opened for nobody: the backend's handle is let go.
        Promise.resolve()
          .then(() => file.close())
          .catch(() => undefined);
        throw err;
      }
    };
    if (!(opened instanceof Promise)) return allocate(opened);
    return opened.then(allocate, (err: unknown) => {
      this.opening--;
      throw err;
    });
  }

  /**
   * newPipe makes a pipe counted against the tree's MAX_TREE_PIPES until its
   * last end closes. EMFILE past it (an attacker pass: pipes filled with 64
   * KiB and left with their read end open held 150 MiB of the kernel for 40
   * processes, counted against no one).
   */
  private newPipe(): Pipe {
    const budget = this.output;
    if (budget.pipes >= MAX_TREE_PIPES) throw new KernelError('EMFILE', `too many pipes open in the tree (limit ${MAX_TREE_PIPES}, ${MAX_TREE_PIPES * (PIPE_CAPACITY >> 10)} KiB in the kernel)`);
    budget.pipes++;
    const pipe = new Pipe();
    pipe.whenGone(() => budget.pipes--);
    return pipe;
  }

  /** pipe creates a pipe and returns [read end, write end]. */
  pipe(): [number, number] {
    if (this.entries.size + 2 > this.limit) throw new KernelError('EMFILE', `too many open files (limit ${this.limit})`);
    const pipe = this.newPipe();
    return [this.allocate({ kind: 'pipe', pipe, end: 'r' }), this.allocate({ kind: 'pipe', pipe, end: 'w' })];
  }

  /**
   * openStream gives the process the read end of a new pipe, as an fd, and
   * returns the kernel's writer end: how a tool streams a body to the agent
   * (http.fetch). The writer blocks while the pipe is full; EPIPE once the
   * agent closed the fd (or exited). EMFILE past the limit.
   */
  openStream(): StreamWriter {
    const pipe = this.newPipe();
    pipe.open('w');
    let fd: number;
    try {
      fd = this.allocate({ kind: 'pipe', pipe, end: 'r' });
    } catch (err) {
      pipe.close('w');
      throw err;
    }
    let ended = false;
    const unread = new AbortController();
    pipe.whenUnread(() => unread.abort());
    const finish = (how: () => void) => {
      if (ended) return;
      ended = true;
      how();
    };
    return {
      fd,
      write: (chunk) => pipe.write(chunk, () => !ended),
      end: () => finish(() => pipe.close('w')),
      fail: (err) => finish(() => pipe.fail(err)),
      reading: () => pipe.hasReaders,
      unread: unread.signal,
    };
  }

  read(fd: number, length: number, cancel?: AbortSignal): MaybePromise<Uint8Array> {
    const entry = this.get(fd);
    if (entry.kind === 'stdin') return EMPTY;
    if (entry.kind === 'pipe' && entry.end === 'r') return entry.pipe.read(length, () => this.entries.get(fd) === entry, cancel);
    if (entry.kind !== 'file' || !entry.readable) throw new KernelError('EBADF', `fd ${fd} is not open for reading`);
    return andThen(entry.file.read(length, entry.position), (out) => {
      entry.position += out.byteLength;
      return out;
    });
  }

  /** writePipe writes to a pipe; a write that would wait while the tree's waiting writes hold MAX_BLOCKED_WRITE_BYTES is EAGAIN, nothing written. */
  private writePipe(pipe: Pipe, data: Uint8Array, open: () => boolean, cancel?: AbortSignal): MaybePromise<number> {
    if (pipe.room < data.byteLength && this.output.waiting + weight(data) > MAX_BLOCKED_WRITE_BYTES) throw this.tooManyWaiting('the pipe is full');
    const written = pipe.write(data, open, cancel);
    return written instanceof Promise ? this.waiting(weight(data), written) : written;
  }

  /**
   * writeSink writes to an operator sink. A sink says it is full only by
   * making a write wait, and takes chunks in order: while one of the tree's
   * writes waits in a sink, its next write there waits too, and is EAGAIN if
   * it would take the tree's waiting writes past MAX_BLOCKED_WRITE_BYTES (a
   * sink nobody waits in, stderr beside a full stdout, still takes writes).
   */
  private writeSink(entry: SinkEntry, data: Uint8Array, cancel: AbortSignal | undefined): MaybePromise<number> {
    const budget = this.output;
    if (budget.used + data.byteLength > budget.limit) throw new KernelError('EFBIG', `output limit of ${budget.limit} bytes reached`);
    const waits = budget.waitsIn.get(entry) ?? 0;
    if (waits > 0 && budget.waiting + weight(data) > MAX_BLOCKED_WRITE_BYTES) throw this.tooManyWaiting('the output stream is full');
    budget.used += data.byteLength;
    const taken = entry.sink(data, cancel);
    // Only a promise (a thenable) makes the write wait: a sink written as `(c) => stream.write(c)` answers a boolean (the package test's answered a string).
    if (!isThenable(taken)) return data.byteLength;
    budget.waitsIn.set(entry, waits + 1);
    const done = () => {
      const left = (budget.waitsIn.get(entry) ?? 1) - 1;
      if (left === 0) budget.waitsIn.delete(entry);
      else budget.waitsIn.set(entry, left);
    };
    return this.waiting(weight(data), Promise.resolve(taken).then(() => (done(), data.byteLength), (err: unknown) => (done(), Promise.reject(err))));
  }

  /** waiting counts `bytes` of a write that waits (`written`) until it settles. */
  private waiting(bytes: number, written: Promise<number>): Promise<number> {
    this.output.waiting += bytes;
    const done = () => {
      this.output.waiting -= bytes;
    };
    written.then(done, done);
    return written;
  }

  /** tooManyWaiting is the EAGAIN of a write that would wait while the tree's waiting writes hold MAX_BLOCKED_WRITE_BYTES. */
  private tooManyWaiting(why: string): KernelError {
    return new KernelError('EAGAIN', `${why} and ${this.output.waiting} bytes of this process tree's writes already wait (at most ${MAX_BLOCKED_WRITE_BYTES}, each counted as ${WAITING_WRITE_BYTES} at the least): await earlier writes`);
  }

  write(fd: number, data: Uint8Array, cancel?: AbortSignal): MaybePromise<number> {
    const entry = this.get(fd);
    if (entry.kind === 'sink') return this.writeSink(entry, data, cancel);
    if (entry.kind === 'pipe' && entry.end === 'w') return this.writePipe(entry.pipe, data, () => this.entries.get(fd) === entry, cancel);
    if (entry.kind !== 'file' || !entry.writable) throw new KernelError('EBADF', `fd ${fd} is not open for writing`);
    return this.writeFile(entry, data);
  }

  /**
   * writeFile writes at the fd's position (or its file's end). A backend
   * that answers later (Redis) takes one write of an fd at a time, in order:
   * an attacker pass found 200 asynchronous appends of 6 bytes leaving a
   * 36-byte file, each one read the end before the others had written. Its
   * waiting writes count against the tree's MAX_BLOCKED_WRITE_BYTES (1,000
   * asynchronous 1 MiB writes held 2 GB of copies while Redis took them).
   * Appends from two nodes to one shared file can still overwrite each other
   * (README: Known limits).
   */
  private writeFile(file: Extract<Entry, { kind: 'file' }>, data: Uint8Array): MaybePromise<number> {
    const run = () =>
      andThen(file.append ? file.file.size() : file.position, (at) =>
        andThen(file.file.write(data, at), (n) => {
          file.position = at + n;
          const was = file.written;
          if (was === undefined) file.written = { lo: at, hi: at + n };
          else {
            if (at < was.lo) was.lo = at;
            if (at + n > was.hi) was.hi = at + n;
          }
          return n;
        }),
      );
    const before = file.writing;
    // Every write to a backend that answers later, its first on the fd too (a review: one write on each of 60 fds held 60 MiB).
    if (file.file.later === true && this.output.waiting + weight(data) > MAX_BLOCKED_WRITE_BYTES) throw this.tooManyWaiting("the file's backend is busy");
    const done = before === undefined ? run() : before.then(run, run);
    if (!(done instanceof Promise)) return done;
    const mine: Promise<number> = this.waiting(weight(data), done);
    file.writing = mine;
    const clear = () => {
      if (file.writing === mine) file.writing = undefined;
    };
    mine.then(clear, clear);
    return mine;
  }

  /** report hands what an fd wrote (with WRITTEN_MARGIN bytes around it) to onWritten. */
  private report(entry: Entry): MaybePromise<void> {
    if (entry.kind !== 'file' || this.onWritten === undefined) return;
    // Writes still on their way are reported with the rest, once they have landed.
    const pending = entry.writing;
    if (pending !== undefined) return pending.then(() => this.report(entry), () => this.report(entry));
    if (entry.written === undefined) return;
    const { lo, hi } = entry.written;
    entry.written = undefined;
    const onWritten = this.onWritten;
    const from = Math.max(0, lo - WRITTEN_MARGIN);
    return andThen(entry.file.size(), (size) => {
      const to = Math.min(size, hi + WRITTEN_MARGIN);
      if (to - from <= REPORT_SLICE) return andThen(entry.file.read(Math.max(0, to - from), from), (content) => onWritten(content));
      return reportInSlices(entry.file, from, to, onWritten);
    });
  }

  /** flushWritten reports every file written through a still-open fd. */
  flushWritten(): MaybePromise<void> {
    const pending: Promise<void>[] = [];
    for (const entry of this.entries.values()) {
      const done = this.report(entry);
      if (done instanceof Promise) pending.push(done);
    }
    if (pending.length > 0) return Promise.all(pending).then(() => undefined);
  }

  close(fd: number): MaybePromise<void> {
    const entry = this.get(fd);
    this.entries.delete(fd);
    if (entry.kind === 'pipe') entry.pipe.close(entry.end);
    if (entry.kind !== 'file') return;
    // Writes still on their way land first (a review: closing under them failed them with EBADF, the data lost).
    const pending = entry.writing;
    if (pending !== undefined) return pending.then(() => this.closeFile(entry), () => this.closeFile(entry));
    return this.closeFile(entry);
  }

  /** closeFile reports what an fd wrote and closes its file. */
  private closeFile(entry: Extract<Entry, { kind: 'file' }>): MaybePromise<void> {
    let reported: MaybePromise<void>;
    try {
      reported = this.report(entry);
    } catch (err) {
      void Promise.resolve(entry.file.close()).catch(() => undefined);
      throw err;
    }
    return andThen(reported, () => entry.file.close());
  }

  /** closeAll releases every open file; called when the process exits (a failing close cannot be reported to anyone). */
  closeAll(): void {
    this.ended = true;
    for (const fd of this.entries.keys()) {
      try {
        const closing = this.close(fd);
        if (closing instanceof Promise) closing.catch(() => undefined);
      } catch {
        // the process is gone
      }
    }
  }
}
