/**
 * AsyncCalls is one sandbox's asynchronous syscalls: what is outstanding
 * (a call counts until its completion is delivered, so an isolate that never
 * yields cannot pile completions up host-side), which of them keep the
 * process alive, the event loop's own slots, the completions waiting for
 * delivery (in order, in batches, one batch in flight at a time), and
 * cancelling one or all of them.
 */
import type { Reply } from '../syscalls/dispatch.ts';
import { wire, type WireReply } from './wire-reply.ts';

/** The most asynchronous calls one process may have outstanding, completions not yet delivered included (EAGAIN past it). */
export const MAX_OUTSTANDING = 1024;
/** The runtime's event loop has slots of its own for its timer (and timers it re-armed whose cancellations are not yet delivered), so timers fire however many other calls are outstanding. */
export const MAX_OUTSTANDING_LOOP = 64;
/** Flags of an asynchronous call: it keeps the process alive; it is the event loop's own. */
export const REF = 1;
export const LOOP = 2;

/** A call outstanding: what cancels it, whether it keeps the process alive, whether it is the event loop's. */
interface Outstanding {
  readonly controller: AbortController;
  readonly ref: boolean;
  readonly loop: boolean;
  /** The kernel has answered; the completion waits for delivery. */
  done: boolean;
}

export type Completion = { readonly id: number; readonly reply: WireReply };

export class AsyncCalls {
  private readonly outstanding = new Map<number, Outstanding>();
  private refs = 0;
  private loopCalls = 0;
  private nextCall = 1;
  private completions: Completion[] = [];
  private flushing = false;
  /** deliver hands a batch to the isolate; `after` runs once the queue is empty. */
  private readonly deliver: (batch: Completion[]) => Promise<void>;
  private readonly after: () => void;
  private closed = false;

  constructor(deliver: (batch: Completion[]) => Promise<void>, after: () => void) {
    this.deliver = deliver;
    this.after = after;
  }

  /** refusal is the EAGAIN a call with `flags` gets now, or undefined if it may start. */
  refusal(flags: number): WireReply | undefined {
    const loop = (flags & LOOP) !== 0;
    const over = loop ? this.loopCalls >= MAX_OUTSTANDING_LOOP : this.outstanding.size - this.loopCalls >= MAX_OUTSTANDING;
    if (!over) return undefined;
    return { t: 'fault', errno: 'EAGAIN', message: `more than ${loop ? MAX_OUTSTANDING_LOOP : MAX_OUTSTANDING} asynchronous calls outstanding${loop ? ' for the event loop' : ''}` };
  }

  /** add registers a call answered later and returns its id; its completion is queued when `later` settles. */
  add(flags: number, controller: AbortController, later: Promise<Reply>): number {
    const id = this.nextCall++;
    const call = { controller, ref: (flags & REF) !== 0, loop: (flags & LOOP) !== 0, done: false };
    this.outstanding.set(id, call);
    if (call.ref) this.refs++;
    if (call.loop) this.loopCalls++;
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
    this.completions.push({ id, reply: 'later' in reply ? { t: 'fault', errno: 'EIO', message: 'unsettled reply' } : wire(reply) });
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(() => void this.flush());
    }
  }

  private async flush(): Promise<void> {
    while (!this.closed && this.completions.length > 0) {
      const batch = this.completions;
      this.completions = [];
      try {
        await this.deliver(batch);
      } finally {
        this.retire(batch);
      }
    }
    this.flushing = false;
    this.after();
  }

  /** retire forgets the calls of a delivered batch. */
  private retire(batch: readonly Completion[]): void {
    for (const { id } of batch) {
      const call = this.outstanding.get(id);
      if (call === undefined) continue;
      this.outstanding.delete(id);
      if (call.ref) this.refs--;
      if (call.loop) this.loopCalls--;
    }
  }

  /** abortAll cancels every call still running (timers, tool calls, fetches) and drops what waits: nothing outlives the process. */
  abortAll(): void {
    this.closed = true;
    for (const call of this.outstanding.values()) call.controller.abort();
    this.outstanding.clear();
    this.refs = 0;
    this.loopCalls = 0;
    this.completions = [];
  }
}
