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

/** A waiter's place in a WaitQueue. */
interface Waiting {
  readonly wake: () => void;
  prev: Waiting | undefined;
  next: Waiting | undefined;
}

/** WaitQueue holds who waits on a pipe, in order: O(1) to join at either end, leave, or wake the first. */
class WaitQueue {
  private first: Waiting | undefined;
  private last: Waiting | undefined;
  /** How many wait. */
  size = 0;

  /** join adds `wake`, last (or first: a waiter that was woken and must wait again keeps its turn). */
  join(wake: () => void, first = false): Waiting {
    const w: Waiting = { wake, prev: undefined, next: undefined };
    this.size++;
    if (this.first === undefined) this.first = this.last = w;
    else if (first) {
      w.next = this.first;
      this.first.prev = w;
      this.first = w;
    } else {
      w.prev = this.last;
      this.last!.next = w;
      this.last = w;
    }
    return w;
  }

  leave(w: Waiting): void {
    if (w.prev === undefined) {
      if (this.first !== w) return;
      this.first = w.next;
    } else w.prev.next = w.next;
    this.size--;
    if (w.next === undefined) this.last = w.prev;
    else w.next.prev = w.prev;
    w.prev = w.next = undefined;
  }

  /** wakeFirst wakes the first waiter, if any. */
  wakeFirst(): void {
    const w = this.first;
    if (w === undefined) return;
    this.leave(w);
    w.wake();
  }

  /** wakeAll wakes every waiter, in order. */
  wakeAll(): void {
    for (let w = this.first; w !== undefined; ) {
      const next = w.next;
      w.prev = w.next = undefined;
      w.wake();
      w = next;
    }
    this.first = this.last = undefined;
    this.size = 0;
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
  }

  /** whenUnread calls `fn` once the last read end has closed. */
  whenUnread(fn: () => void): void {
    this.onUnread = fn;
  }

  private wakeAll(): void {
    this.readWaiters.wakeAll();
    this.writeWaiters.wakeAll();
  }

  /** changed resolves when the waiter is woken (`first`: ahead of the others, its turn kept), or when `cancel` aborts (it then leaves the queue at once). */
  private changed(waiters: WaitQueue, cancel: AbortSignal | undefined, first: boolean): Promise<void> {
    return new Promise((resolve) => {
      if (cancel === undefined) {
        waiters.join(resolve, first);
        return;
      }
      const place = waiters.join(() => {
        cancel.removeEventListener('abort', onAbort);
        resolve();
      }, first);
      const onAbort = () => {
        waiters.leave(place);
        resolve();
      };
      cancel.addEventListener('abort', onAbort, { once: true });
    });
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

  /** readLater is a read that waits: in a loop, so a read woken many times holds one promise. */
  private async readLater(max: number, open: () => boolean, cancel: AbortSignal | undefined): Promise<Uint8Array> {
    for (let again = false; ; again = true) {
      await this.changed(this.readWaiters, cancel, again);
      try {
        // A cancelled read takes nothing: the bytes stay for the next reader (found by a review: a read given up on swallowed them).
        if (cancel?.aborted === true) return cancelledWhileBlocked();
        if (!open()) return closedWhileBlocked();
        if (this.buffered > 0) return this.take(max);
        if (this.failure !== undefined) throw this.failure;
        if (this.writers === 0) return EOF;
      } finally {
        // The turn goes on while there are bytes for the next reader.
        if (this.buffered > 0) this.readWaiters.wakeFirst();
      }
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

  /** writeLater is a write that waits for room: in a loop, so a write woken many times holds one promise. */
  private async writeLater(data: Uint8Array, done: number, open: () => boolean, cancel: AbortSignal | undefined): Promise<number> {
    for (let again = false; ; again = true) {
      await this.changed(this.writeWaiters, cancel, again);
      try {
        const now = this.progress(data, done, open, cancel);
        if (!now.waiting) return now.done;
        done = now.done;
      } finally {
        // The turn goes on while there is room for the next writer.
        if (this.buffered < PIPE_CAPACITY) this.writeWaiters.wakeFirst();
      }
    }
  }
}
