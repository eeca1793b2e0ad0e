/**
 * Pipe is a one-way byte channel between processes with back-pressure: it
 * holds at most CAPACITY bytes; a writer blocks while it is full, a reader
 * blocks while it is empty and a writer remains. Reading an empty pipe with
 * no writers is end of file; writing with no readers is EPIPE.
 */
import { KernelError } from '../abi/errno.ts';

export const PIPE_CAPACITY = 64 * 1024;

const EOF = new Uint8Array(0);

const always = (): boolean => true;

function closedWhileBlocked(): never {
  throw new KernelError('EBADF', 'the fd was closed while the call was blocked');
}

function cancelledWhileBlocked(): never {
  throw new KernelError('ECANCELED', 'the call was cancelled while it was blocked');
}

/** The smallest ring a pipe holding bytes keeps; it doubles up to PIPE_CAPACITY as more are held. */
const MIN_RING = 4096;
const NO_RING = new Uint8Array(0);

/** A waiter's place in a WaitQueue: kept from its first wait to its end, so waiting again never changes its turn. */
interface Waiting {
  /** Set while it waits: what wakes it. */
  resume: (() => void) | undefined;
  prev: Waiting | undefined;
  next: Waiting | undefined;
  inQueue: boolean;
}

/**
 * WaitQueue holds who waits on a pipe, in the order they came: O(1) to
 * join, leave or wait again in place; a wake goes to the first that waits
 * and is not already woken.
 */
class WaitQueue {
  private first: Waiting | undefined;
  private last: Waiting | undefined;
  /** How many are in the queue. */
  size = 0;

  /** enter takes a place at the end. */
  enter(): Waiting {
    const w: Waiting = { resume: undefined, prev: this.last, next: undefined, inQueue: true };
    if (this.last === undefined) this.first = w;
    else this.last.next = w;
    this.last = w;
    this.size++;
    return w;
  }

  leave(w: Waiting): void {
    if (!w.inQueue) return;
    w.inQueue = false;
    if (w.prev === undefined) this.first = w.next;
    else w.prev.next = w.next;
    if (w.next === undefined) this.last = w.prev;
    else w.next.prev = w.prev;
    w.prev = w.next = w.resume = undefined;
    this.size--;
  }

  /** wait resolves when `w` is woken, or when `cancel` aborts (it then leaves the queue at once). */
  wait(w: Waiting, cancel: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      if (cancel === undefined) {
        w.resume = resolve;
        return;
      }
      const onAbort = () => {
        this.leave(w);
        resolve();
      };
      w.resume = () => {
        cancel.removeEventListener('abort', onAbort);
        resolve();
      };
      if (cancel.aborted) onAbort();
      else cancel.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** wakeFirst wakes the first that waits (one already woken and not yet run is passed over). */
  wakeFirst(): void {
    for (let w = this.first; w !== undefined; w = w.next) {
      const resume = w.resume;
      if (resume === undefined) continue;
      w.resume = undefined;
      resume();
      return;
    }
  }

  /** wakeAll wakes everyone that waits, in order. */
  wakeAll(): void {
    for (let w = this.first; w !== undefined; w = w.next) {
      const resume = w.resume;
      w.resume = undefined;
      resume?.();
    }
  }
}

export class Pipe {
  /**
   * The bytes held, in a ring from `head`: one buffer whatever the writes
   * were (found by an attacker pass: a chunk kept per write, and a shift()
   * per chunk read, made one read of 65,536 one-byte writes take 2.2 s of
   * the kernel's loop). Sized to what is held, dropped when empty.
   */
  private ring = NO_RING;
  private head = 0;
  private buffered = 0;
  private readers = 0;
  private writers = 0;
  /**
   * Who waits, in order: a change wakes only whom it concerns — bytes stored
   * one reader, bytes taken one writer, each passing the turn on while there
   * is more — and a closed end everyone (found by an attacker pass: every
   * read woke every blocked writer, so 8,000 writers made each 1-byte read
   * cost ~10 ms of the kernel's loop, and each wake chained one more promise).
   */
  private readonly readWaiters = new WaitQueue();
  private readonly writeWaiters = new WaitQueue();
  /** Set by fail(): what readers get once the buffered bytes are read, instead of end of file. */
  private failure: KernelError | undefined;
  /** Called once when the last read end closes (a kernel writer stops then). */
  private onUnread: (() => void) | undefined;
  /** Called once when the last of its ends closes (the tree's count of pipes goes down then). */
  private onGone: (() => void) | undefined;

  /** open adds a reader or writer end; close removes one. */
  open(end: 'r' | 'w'): void {
    if (end === 'r') this.readers++;
    else this.writers++;
  }

  close(end: 'r' | 'w'): void {
    if (end === 'r') this.readers--;
    else this.writers--;
    this.wakeAll();
    if (end === 'r' && this.readers === 0 && this.onUnread !== undefined) {
      const unread = this.onUnread;
      this.onUnread = undefined;
      unread();
    }
    if (this.readers <= 0 && this.writers <= 0 && this.onGone !== undefined) {
      const gone = this.onGone;
      this.onGone = undefined;
      gone();
    }
  }

  /** whenGone calls `fn` once every end has closed. */
  whenGone(fn: () => void): void {
    this.onGone = fn;
  }

  /** whenUnread calls `fn` once the last read end has closed. */
  whenUnread(fn: () => void): void {
    this.onUnread = fn;
  }

  private wakeAll(): void {
    this.readWaiters.wakeAll();
    this.writeWaiters.wakeAll();
  }

  private take(max: number): Uint8Array {
    const n = Math.min(max, this.buffered);
    const out = new Uint8Array(n);
    const first = Math.min(n, this.ring.length - this.head);
    out.set(this.ring.subarray(this.head, this.head + first), 0);
    if (first < n) out.set(this.ring.subarray(0, n - first), first);
    this.head = (this.head + n) % this.ring.length;
    this.buffered -= n;
    if (this.buffered === 0) {
      this.ring = NO_RING;
      this.head = 0;
    }
    this.writeWaiters.wakeFirst();
    return out;
  }

  /** store appends `n` bytes of `data` from `from` (n fits: the caller checked the room). */
  private store(data: Uint8Array, from: number, n: number): void {
    const need = this.buffered + n;
    if (need > this.ring.length) {
      let size = Math.max(MIN_RING, this.ring.length);
      while (size < need) size *= 2;
      const grown = new Uint8Array(Math.min(size, PIPE_CAPACITY));
      const first = Math.min(this.buffered, this.ring.length - this.head);
      grown.set(this.ring.subarray(this.head, this.head + first), 0);
      if (first < this.buffered) grown.set(this.ring.subarray(0, this.buffered - first), first);
      this.ring = grown;
      this.head = 0;
    }
    const tail = (this.head + this.buffered) % this.ring.length;
    const first = Math.min(n, this.ring.length - tail);
    this.ring.set(data.subarray(from, from + first), tail);
    if (first < n) this.ring.set(data.subarray(from + first, from + n), 0);
    this.buffered += n;
  }

  /**
   * read returns up to `max` bytes: at once if any are buffered, else when some
   * arrive or the last writer closes. A blocked read gives up (EBADF) once
   * `open()` says the caller's end was closed — say its process died — so a
   * dead reader never takes bytes meant for a live one.
   */
  read(max: number, open: () => boolean = always, cancel?: AbortSignal): Uint8Array | Promise<Uint8Array> {
    if (max === 0) return EOF;
    if (this.buffered > 0) return this.take(max);
    if (this.failure !== undefined) throw this.failure;
    if (this.writers === 0) return EOF;
    return this.readLater(max, open, cancel);
  }

  /** readLater is a read that waits: in a loop, in one place in the queue (one promise however often it is woken). */
  private async readLater(max: number, open: () => boolean, cancel: AbortSignal | undefined): Promise<Uint8Array> {
    const place = this.readWaiters.enter();
    try {
      for (;;) {
        await this.readWaiters.wait(place, cancel);
        // A cancelled read takes nothing: the bytes stay for the next reader (found by a review: a read given up on swallowed them).
        if (cancel?.aborted === true) return cancelledWhileBlocked();
        if (!open()) return closedWhileBlocked();
        if (this.buffered > 0) return this.take(max);
        if (this.failure !== undefined) throw this.failure;
        if (this.writers === 0) return EOF;
      }
    } finally {
      this.readWaiters.leave(place);
      // The turn goes on while there are bytes for the next reader.
      if (this.buffered > 0) this.readWaiters.wakeFirst();
    }
  }

  /** fail closes a writer end with an error: readers get `err` (after the bytes already buffered) instead of end of file. */
  fail(err: KernelError): void {
    this.failure ??= err;
    this.close('w');
  }

  /** waiting is how many reads and writes wait on the pipe. */
  get waiting(): { readonly reads: number; readonly writes: number } {
    return { reads: this.readWaiters.size, writes: this.writeWaiters.size };
  }

  /** hasReaders: some read end is still open. */
  get hasReaders(): boolean {
    return this.readers > 0;
  }

  /** room is how many bytes a write could store now without blocking. */
  get room(): number {
    return PIPE_CAPACITY - this.buffered;
  }

  /** write stores all of `data`, blocking while the pipe is full. EPIPE without readers; a blocked write stops (EBADF) once `open()` is false. */
  write(data: Uint8Array, open: () => boolean = always, cancel?: AbortSignal): number | Promise<number> {
    return this.writeFrom(data, 0, open, cancel);
  }

  private writeFrom(data: Uint8Array, done: number, open: () => boolean, cancel?: AbortSignal): number | Promise<number> {
    const now = this.progress(data, done, open, cancel);
    return now.waiting ? this.writeLater(data, now.done, open, cancel) : now.done;
  }

  /** progress stores what fits of `data` from `done`: how far it got, and whether the rest must wait for room. */
  private progress(data: Uint8Array, done: number, open: () => boolean, cancel: AbortSignal | undefined): { done: number; waiting: boolean } {
    for (;;) {
      if (!open()) return closedWhileBlocked();
      // Cancelled: what was written stays written and is the result, as a write interrupted after progress returns its count.
      if (cancel?.aborted === true) return done > 0 ? { done, waiting: false } : cancelledWhileBlocked();
      if (this.readers === 0) throw new KernelError('EPIPE', 'the pipe has no reader');
      if (done === data.byteLength) return { done, waiting: false };
      const room = PIPE_CAPACITY - this.buffered;
      if (room === 0) return { done, waiting: true };
      const n = Math.min(room, data.byteLength - done);
      this.store(data, done, n);
      done += n;
      this.readWaiters.wakeFirst();
    }
  }

  /** writeLater is a write that waits for room: in a loop, in one place in the queue, so one writer's writes keep their order. */
  private async writeLater(data: Uint8Array, done: number, open: () => boolean, cancel: AbortSignal | undefined): Promise<number> {
    const place = this.writeWaiters.enter();
    try {
      for (;;) {
        await this.writeWaiters.wait(place, cancel);
        const now = this.progress(data, done, open, cancel);
        if (!now.waiting) return now.done;
        done = now.done;
      }
    } finally {
      this.writeWaiters.leave(place);
      // The turn goes on while there is room for the next writer.
      if (this.buffered < PIPE_CAPACITY) this.writeWaiters.wakeFirst();
    }
  }
}
