/**
 * AsyncCalls is one sandbox's asynchronous syscalls: what is outstanding
 * (a call counts until its completion is delivered, so an isolate that never
 * yields cannot pile completions up host-side), which of them keep the
 * process alive, the event loop's own slots, the completions waiting for
 * delivery (in order, in batches; a small batch goes while the last is
 * still on its way, so a timer's or a fetch's completion does not wait for
 * the hop that says the previous batch was taken; large ones go one at a
 * time, so the isolate never holds two of them at once), and
 * cancelling one or all of them. What the kernel holds for a process's
 * asynchronous calls is bounded: calls that bring data back (SYS_EXEC,
 * SYS_READ) at MAX_DATA_CALLS at a time, completions waiting for delivery
 * at MAX_HELD_BYTES (an agent that issued 1,000 tool calls and never yielded
 * grew the kernel by 2.7 GB). Past those a call is answered `busy`, and the
 * runtime issues it again after a completion: back-pressure, not an error.
 */
import type { Reply } from '../syscalls/dispatch.ts';
import { SYSCALL_NUMBERS } from '../syscalls/table.ts';
import { weigh } from './crossing-turn.ts';
import { wire, type WireReply } from './wire-reply.ts';

/** The most asynchronous calls one process may have outstanding, completions not yet delivered included (EAGAIN past it). */
export const MAX_OUTSTANDING = 1024;
/** The runtime's event loop has slots of its own for its timer (and timers it re-armed whose cancellations are not yet delivered), so timers fire however many other calls are outstanding. */
export const MAX_OUTSTANDING_LOOP = 64;
/** The most calls that bring data back (a tool's output, a read, a directory page) one process may have outstanding: each may hold up to its limit (1 MiB by default; a page of 1,024 names) in the kernel. */
export const MAX_DATA_CALLS = 16;
/** The most bytes of completions waiting for delivery to one process; past it new calls wait their turn (EAGAIN) until it yields. */
export const MAX_HELD_BYTES = 16 * 1024 * 1024;
/** Batches of completions on their way into one isolate at once, when they are small. */
export const BATCHES_IN_FLIGHT = 2;
/** A batch goes while another is on its way only if the two hold at most this many bytes. */
export const PIPELINED_BYTES = 64 * 1024;
/** The calls that bring data back (MAX_DATA_CALLS of them at a time); ring 3 keeps them in order among themselves when one has to wait (BootRecord.dataCalls). */
export const DATA_SYSCALLS: readonly number[] = Object.freeze([SYSCALL_NUMBERS.SYS_EXEC, SYSCALL_NUMBERS.SYS_READ, SYSCALL_NUMBERS.SYS_READDIR]);
const DATA_CALLS: ReadonlySet<unknown> = new Set(DATA_SYSCALLS);
/** The only calls the event loop's slots take: its timer and the cancels of timers it re-armed. The flag comes from ring 3, so any other call that claims it is counted as any call (found by an attacker pass: reads marked LOOP went past MAX_DATA_CALLS and MAX_HELD_BYTES). */
const LOOP_CALLS: ReadonlySet<unknown> = new Set([SYSCALL_NUMBERS.SYS_TIMER, SYSCALL_NUMBERS.SYS_CANCEL]);

/** loopCall: call `nr` with `flags` takes one of the event loop's slots. */
const loopCall = (flags: number, nr: unknown): boolean => (flags & LOOP) !== 0 && LOOP_CALLS.has(nr);

/**
 * sizeOf estimates what a completion holds: a read's bytes, a tool result's
 * serialized size, a string's length, else the value weighed as a crossing
 * weighs it (a directory page of 1,024 names of 255 characters is ~0.5 MB:
 * counted as 256 bytes, an attacker pass had the kernel hold ten times
 * MAX_HELD_BYTES of them for one process).
 */
function sizeOf(reply: WireReply): number {
  if (reply.t !== 'value') return 256;
  const v = reply.v;
  if (v instanceof Uint8Array) return v.byteLength;
  if (typeof v === 'string') return v.length;
  if (v !== null && typeof v === 'object' && typeof (v as { bytes?: unknown }).bytes === 'number') return (v as { bytes: number }).bytes;
  return Math.max(256, weigh(v));
}

/** Flags of an asynchronous call: it keeps the process alive; it is the event loop's own. */
export const REF = 1;
export const LOOP = 2;

/** A call outstanding: what cancels it, whether it keeps the process alive, whether it is the event loop's. */
interface Outstanding {
  readonly controller: AbortController;
  readonly ref: boolean;
  readonly loop: boolean;
  /** A call that brings data back (counted against MAX_DATA_CALLS). */
  readonly data: boolean;
  /** The kernel has answered; the completion waits for delivery. */
  done: boolean;
}

export type Completion = { readonly id: number; readonly reply: WireReply; readonly size: number };

export class AsyncCalls {
  private readonly outstanding = new Map<number, Outstanding>();
  private refs = 0;
  private loopCalls = 0;
  private dataCalls = 0;
  private heldBytes = 0;
  /** A call was answered 'busy' since the last delivery: the runtime holds calls back and must hear when there is room. */
  private owesNudge = false;
  /** nudge() was asked for while a batch was on its way: its end nudges, even an empty one's. */
  private nudgeAfter = false;
  private nextCall = 1;
  private completions: Completion[] = [];
  /** A delivery is scheduled for the end of this turn (completions of one turn go in one batch). */
  private scheduled = false;
  /** Batches handed to the isolate and not yet taken (their calls still count), and what they hold. */
  private inFlight = 0;
  private inFlightBytes = 0;
  /** What the completions waiting for delivery hold. */
  private queuedBytes = 0;
  private readonly depth: number;
  /** deliver hands a batch to the isolate; `after` runs once the queue is empty. */
  private readonly deliver: (batch: Completion[]) => Promise<void>;
  private readonly after: () => void;
  private closed = false;

  /**
   * `firstId` is the first call's id (a replayed run's own calls number past
   * the recording's); `depth`, the batches in flight at once (1 under a tape:
   * each batch is taped in the order the isolate takes them).
   */
  constructor(deliver: (batch: Completion[]) => Promise<void>, after: () => void, firstId = 1, depth = BATCHES_IN_FLIGHT) {
    this.deliver = deliver;
    this.after = after;
    this.nextCall = firstId;
    this.depth = depth;
  }

  /**
   * refusal is the EAGAIN asynchronous call `nr` with `flags` gets now, or
   * `busy` (held back in ring 3), or undefined if it may start. While the
   * process is `stopped` every call but the event loop's is busy: a call the
   * kernel took would wait for SIGCONT holding its arguments in the kernel
   * (found by an attacker pass: a process that stopped itself parked 1,000
   * spawns of 4 MB of arguments each, and the kernel ran out of heap). So
   * is every call while the way to the kernel is `crowded` (the reason: the
   * thread's turn is full, kernel/crossing-turn.ts; a host's channel holds
   * the sandbox's share). The EAGAIN limits come first, and the event
   * loop's timer and cancels are never busy.
   */
  refusal(flags: number, nr: unknown, stopped = false, crowded?: string): WireReply | undefined {
    if (loopCall(flags, nr)) return this.loopCalls >= MAX_OUTSTANDING_LOOP ? { t: 'fault', errno: 'EAGAIN', message: `more than ${MAX_OUTSTANDING_LOOP} asynchronous calls outstanding for the event loop` } : undefined;
    if (this.outstanding.size - this.loopCalls >= MAX_OUTSTANDING) return { t: 'fault', errno: 'EAGAIN', message: `more than ${MAX_OUTSTANDING} asynchronous calls outstanding` };
    // Past what the kernel holds for the process, a call is not refused but held back in ring 3 until a completion comes (something is outstanding, so one will).
    const busy = stopped ? 'the process is stopped' : crowded ?? (this.heldBytes > MAX_HELD_BYTES ? `completions not yet delivered hold more than ${MAX_HELD_BYTES} bytes` : DATA_CALLS.has(nr) && this.dataCalls >= MAX_DATA_CALLS ? `more than ${MAX_DATA_CALLS} tool calls and reads outstanding` : undefined);
    if (busy === undefined) return undefined;
    this.owesNudge = true;
    return { t: 'busy', why: busy };
  }

  /**
   * nudge tells the runtime to issue the calls it holds back (the process
   * was continued): now, or once the batch on its way has been taken, if it
   * was answered busy (a review: continued while an empty batch was on its
   * way, whose end nudges no one, the held calls were never issued).
   */
  nudge(): void {
    if (this.closed || !this.owesNudge) return;
    if (this.inFlight > 0 || this.completions.length > 0) {
      this.nudgeAfter = true;
      return;
    }
    this.owesNudge = false;
    this.send([], 0);
  }

  /** holdsBack: the runtime holds calls the kernel answered busy (they keep the process alive: they are its calls, not yet made). */
  get holdsBack(): boolean {
    return this.owesNudge;
  }

  /** add registers call `nr`, answered later, and returns its id; its completion is queued when `later` settles. */
  add(flags: number, nr: unknown, controller: AbortController, later: Promise<Reply>): number {
    const id = this.nextCall++;
    const call = { controller, ref: (flags & REF) !== 0, loop: loopCall(flags, nr), data: DATA_CALLS.has(nr), done: false };
    this.outstanding.set(id, call);
    if (call.ref) this.refs++;
    if (call.loop) this.loopCalls++;
    if (call.data) this.dataCalls++;
    void later.then((final) => this.complete(id, final));
    return id;
  }

  /** cancel aborts outstanding call `id` (its completion, ECANCELED or not, still comes). False if there is none. */
  cancel(id: number): boolean {
    const call = this.outstanding.get(id);
    if (call === undefined || call.done || call.controller.signal.aborted) return false;
    call.controller.abort();
    return true;
  }

  /** keepsAlive: a referenced call is outstanding, or a completion waits. */
  get keepsAlive(): boolean {
    return this.refs > 0 || this.completions.length > 0;
  }

  private complete(id: number, reply: Reply): void {
    const call = this.outstanding.get(id);
    if (this.closed || call === undefined) return;
    call.done = true;
    const out: WireReply = 'later' in reply ? { t: 'fault', errno: 'EIO', message: 'unsettled reply' } : wire(reply);
    const size = sizeOf(out);
    this.heldBytes += size;
    this.completions.push({ id, reply: out, size });
    this.queuedBytes += size;
    if (!this.scheduled && this.mayGo()) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.flush();
      });
    }
  }

  /** mayGo: the waiting completions may go now (nothing in flight, or little enough to follow it: `depth`, PIPELINED_BYTES). */
  private mayGo(): boolean {
    return this.inFlight === 0 || (this.inFlight < this.depth && this.inFlightBytes + this.queuedBytes <= PIPELINED_BYTES);
  }

  /** flush hands the waiting completions to the isolate, as one batch, if they may go now. */
  private flush(): void {
    if (this.closed || this.completions.length === 0 || !this.mayGo()) return;
    const batch = this.completions;
    this.completions = [];
    this.send(batch, this.queuedBytes);
    this.queuedBytes = 0;
  }

  private send(batch: Completion[], bytes: number): void {
    this.inFlight++;
    this.inFlightBytes += bytes;
    void this.deliver(batch).finally(() => this.taken(batch, bytes));
  }

  /** taken runs when the isolate has taken `batch`: its calls are retired, and what waits goes next. */
  private taken(batch: readonly Completion[], bytes: number): void {
    this.inFlight--;
    this.inFlightBytes -= bytes;
    this.retire(batch);
    if (this.closed) return;
    if (this.completions.length > 0) return this.flush();
    if (this.inFlight > 0) return;
    // The runtime issues the calls it held back ('busy') from within complete(), before this batch was retired: when
    // it was the last, they found no room and no completion was left to come. An empty batch tells it to try again —
    // once per batch that retired calls: an empty batch frees nothing, and nudging again after it would spin for as
    // long as the calls that hold the room run.
    if (this.owesNudge && (batch.length > 0 || this.nudgeAfter)) {
      this.owesNudge = false;
      this.nudgeAfter = false;
      return this.send([], 0);
    }
    this.after();
  }

  /** retire forgets the calls of a delivered batch. */
  private retire(batch: readonly Completion[]): void {
    for (const { id, size } of batch) {
      this.heldBytes -= size;
      const call = this.outstanding.get(id);
      if (call === undefined) continue;
      this.outstanding.delete(id);
      if (call.ref) this.refs--;
      if (call.loop) this.loopCalls--;
      if (call.data) this.dataCalls--;
    }
  }

  /** abortAll cancels every call still running (timers, tool calls, fetches) and drops what waits: nothing outlives the process. */
  abortAll(): void {
    this.closed = true;
    for (const call of this.outstanding.values()) call.controller.abort();
    this.outstanding.clear();
    this.refs = 0;
    this.loopCalls = 0;
    this.dataCalls = 0;
    this.heldBytes = 0;
    this.completions = [];
    this.queuedBytes = 0;
  }
}
