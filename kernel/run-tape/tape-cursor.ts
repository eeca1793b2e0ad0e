/**
 * Reading a tape's bytes: lines no longer than a tape can hold, the index
 * of waiting calls' reply lines (readTape builds it while it checks), and
 * TapeCursor.
 *
 * TapeCursor reads a checked tape's events in order, a chunk of the file at
 * a time, from the private copy the check made (tape-read.ts) and no further
 * than the size it checked: `peek` is the next event, `next` takes it. A
 * waiting call's reply is read from where the check found its line. Each
 * line is checked again as it is read, and the bytes are hashed as they go:
 * should even the copy change, a line that no longer passes, a file now
 * shorter, or bytes that differ from the ones checked (known when the last
 * chunk is read, before its events are taken; `finish` reads the rest when a
 * replay stops early) end the events with a `cut` event that says so.
 */
import { createHash, type Hash } from 'node:crypto';
import { readSync } from 'node:fs';
import { chunksOf, LineSplitter } from '../recorder/line-reader.ts';
import type { CutEvent, TapeEvent } from './events.ts';
import { isObject, type Json, replyLineProblem, TapeCheck } from './tape-check.ts';
import { TAPE_LIMIT_BYTES } from './tape-file.ts';

/** The largest tape read: the writer cuts at TAPE_LIMIT_BYTES, and its cut and end lines follow. */
export const MAX_TAPE_BYTES = TAPE_LIMIT_BYTES + 1024 * 1024;

/** newSplitter splits a tape's bytes into lines no longer than a tape can hold (a longer one, the last included, is `overlong`). */
export function newSplitter(take: (bytes: Buffer, kind: 'line' | 'overlong' | 'torn') => void): LineSplitter {
  return new LineSplitter(take, MAX_TAPE_BYTES);
}

/** grow is `a` in an array twice as long. */
function grow(a: Uint32Array<ArrayBuffer>): Uint32Array<ArrayBuffer> {
  const b = new Uint32Array(a.length * 2);
  b.set(a);
  return b;
}

/**
 * ReplyIndex keeps where each waiting call's reply line is: call number,
 * offset and length in three growing typed arrays, 12 bytes a call (a tape
 * is at most MAX_TAPE_BYTES, so each fits in 32 bits; replies come in call
 * order, so a lookup is a binary search).
 */
export class ReplyIndex {
  private calls = new Uint32Array(16);
  private offsets = new Uint32Array(16);
  private lengths = new Uint32Array(16);
  private size = 0;

  add(n: number, offset: number, bytes: number): void {
    if (this.size === this.calls.length) {
      this.calls = grow(this.calls);
      this.offsets = grow(this.offsets);
      this.lengths = grow(this.lengths);
    }
    this.calls[this.size] = n;
    this.offsets[this.size] = offset;
    this.lengths[this.size] = bytes;
    this.size++;
  }

  /** find is where call `n`'s reply line is, if it has one of its own. */
  find(n: number): { readonly offset: number; readonly bytes: number } | undefined {
    let lo = 0;
    let hi = this.size - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const at = this.calls[mid]!;
      if (at === n) return { offset: this.offsets[mid]!, bytes: this.lengths[mid]! };
      if (at < n) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }
}

/** What a cursor reads: the checked file, open, its checked size and digest, its version, and where waiting calls' replies are. */
export interface CheckedTape {
  readonly file: string;
  readonly fd: number;
  readonly size: number;
  readonly digest: string;
  readonly version: number;
  readonly replies: ReplyIndex;
}

export class TapeCursor implements Iterable<TapeEvent> {
  private readonly tape: CheckedTape;
  private readonly check: TapeCheck;
  private readonly chunks: Generator<Buffer, void, void>;
  /** How far the file has been read (and hashed). */
  private position = 0;
  private readonly splitter: LineSplitter;
  private readonly hash: Hash = createHash('sha256');
  private queue: TapeEvent[] = [];
  private head = 0;
  private line = 0;
  private done = false;
  /** Why the tape no longer is the one checked, once found. */
  private changed: string | undefined;

  constructor(tape: CheckedTape) {
    this.tape = tape;
    this.check = new TapeCheck(tape.version);
    this.chunks = chunksOf(tape.fd, { limit: tape.size, exactly: true });
    this.splitter = newSplitter((bytes, kind) => this.take(bytes, kind));
  }

  /** peek is the next event (undefined past the last). */
  peek(): TapeEvent | undefined {
    while (this.head === this.queue.length && !this.done) this.fill();
    return this.queue[this.head];
  }

  /** next takes the next event. */
  next(): TapeEvent | undefined {
    const event = this.peek();
    if (event !== undefined) this.head++;
    return event;
  }

  *[Symbol.iterator](): Iterator<TapeEvent> {
    for (let e = this.next(); e !== undefined; e = this.next()) yield e;
  }

  /**
   * finish reads (and hashes) what is left of the tape without parsing it,
   * and says why the tape is not the one checked, if it is not: a replay that
   * ended before the tape's end still learns whether what it followed was.
   */
  finish(): string | undefined {
    if (this.changed === undefined && this.position < this.tape.size) {
      try {
        for (let chunk = this.chunks.next(); chunk.done !== true; chunk = this.chunks.next()) this.taken(chunk.value);
        this.verify();
      } catch (err) {
        this.changed = err instanceof Error ? err.message : String(err);
      }
    }
    this.done = true;
    return this.changed === undefined ? undefined : this.changedWhy(this.changed);
  }

  /** taken hashes a chunk read and counts its bytes. */
  private taken(chunk: Buffer): Buffer {
    this.hash.update(chunk);
    this.position += chunk.length;
    return chunk;
  }

  private fill(): void {
    this.queue = [];
    this.head = 0;
    if (this.position >= this.tape.size) {
      this.done = true;
      this.splitter.end();
      return;
    }
    let chunk: Buffer;
    try {
      // Not done while position < size: chunksOf yields up to the size, or throws.
      chunk = this.taken(this.chunks.next().value as Buffer);
    } catch (err) {
      return this.stop(err instanceof Error ? err.message : String(err));
    }
    // The last chunk: the whole tape is read, so whether it is the one checked is known before the events in it are taken.
    if (this.position === this.tape.size) this.verify();
    if (this.changed !== undefined) return this.stop(this.changed);
    this.splitter.push(chunk);
  }

  /** verify compares the bytes read with those checked (all read). */
  private verify(): void {
    if (this.changed === undefined && this.hash.digest('hex') !== this.tape.digest) this.changed = 'its bytes differ from those checked';
  }

  private take(bytes: Buffer, kind: string): void {
    this.line++;
    if (this.changed !== undefined || this.line === 1) return;
    let e: unknown;
    try {
      e = kind === 'overlong' ? undefined : JSON.parse(bytes.toString('utf8'));
    } catch {
      e = undefined;
    }
    const problem = !isObject(e) ? 'not an event' : this.check.problem(e, this.line);
    if (problem !== undefined) return this.stop(`line ${this.line}: ${problem}`);
    const event = e as Json;
    if (event.k === 'r') return;
    if (event.k === 'c' && event.r === undefined) {
      const reply = this.replyOf(event.n as number);
      if (reply === undefined) return this.stop(`line ${this.line}: call ${String(event.n)}'s reply is no longer where it was`);
      Object.assign(event, { r: reply.r, t: reply.t, ...(reply.d !== undefined ? { d: reply.d } : {}) });
    }
    this.queue.push(event as unknown as TapeEvent);
  }

  /** replyOf reads the reply line of waiting call `n` from where readTape found it, checked again. */
  private replyOf(n: number): Json | undefined {
    const at = this.tape.replies.find(n);
    if (at === undefined) return undefined;
    const bytes = Buffer.allocUnsafe(at.bytes);
    let e: unknown;
    try {
      if (readSync(this.tape.fd, bytes, 0, at.bytes, at.offset) !== at.bytes) return undefined;
      e = JSON.parse(bytes.toString('utf8'));
    } catch {
      return undefined;
    }
    if (!isObject(e) || e.k !== 'r' || e.n !== n || replyLineProblem(e) !== undefined) return undefined;
    return e;
  }

  /** changedWhy says the tape changed since it was checked, and how. */
  private changedWhy(why: string): string {
    return `${this.tape.file} changed since it was checked: ${why}`;
  }

  /** stop ends the events with a cut that says why (the tape changed since it was checked). */
  private stop(why: string): void {
    this.changed ??= why;
    this.done = true;
    const cut: CutEvent = { k: 'cut', why: this.changedWhy(why) };
    this.queue.push(cut);
  }
}
