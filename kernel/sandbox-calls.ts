/**
 * SandboxCalls is the way into the kernel from one sandbox's isolate: its
 * blocking and asynchronous syscalls, as the runtime's host functions hand
 * them over (kernel/sandbox.ts keeps the isolate's life: boot, start,
 * deliveries, its end).
 *
 * Blocking syscalls: when the kernel answers `{ later }`, the isolate gets
 * `{ wait: ticket }` and its runtime sleeps in Atomics.wait on a private
 * shared flag (its pool thread blocks, never the kernel's event loop); when
 * the reply is ready the kernel hands it over (BlockedReply: a number in the
 * shared buffer itself, any other collected with `__collect(ticket)`).
 *
 * Asynchronous syscalls: the isolate gets `{ queued: id }` at once; the
 * completion is queued host-side and delivered, in batches and in order,
 * through the runtime's `complete` entry point (AsyncCalls). Cancelling
 * (SYS_CANCEL) or ending the process aborts the call's work. A call past
 * the thread's turn (kernel/crossing-turn.ts), past what a host may carry,
 * or of a stopped process is answered `busy`: ring 3 holds it back until it
 * is nudged.
 */
import type { Reply } from '../syscalls/dispatch.ts';
import { abortUntil } from './abort-until.ts';
import { AsyncCalls, type Completion } from './async-calls.ts';
import { BlockedReply } from './blocked-reply.ts';
import { nextTurn, nextTurnCall, turnFull, weighCall } from './crossing-turn.ts';
import type { SandboxHooks } from './process-sandbox.ts';
import type { BoundaryTape } from './run-tape/boundary-tape.ts';
import { wire, type WireReply } from './wire-reply.ts';

/** What the calls need of their sandbox. */
export interface CallsOwner {
  readonly hooks: SandboxHooks;
  readonly tape: BoundaryTape | undefined;
  /** Aborted when the sandbox is disposed: the cancel signal of blocking calls. */
  readonly lifetime: AbortSignal;
  /** The isolate's cpuTime now (isolated-vm's). */
  cpuTime(): bigint;
  /** The program's synchronous part is over (it blocked): it no longer counts as a spawn under way. */
  doneStarting(): void;
  /** The sandbox has ended: a blocked call's reply goes nowhere. */
  ended(): boolean;
  /** deliver hands completions to the runtime; after runs once a delivery is over. */
  deliver(batch: Completion[]): Promise<void>;
  after(): void;
}

export class SandboxCalls {
  /** The hand-over of blocked calls' replies (its buffer goes to the runtime at boot). */
  readonly blocked = new BlockedReply();
  private readonly calls: AsyncCalls;
  private readonly owner: CallsOwner;
  /** The process is stopped: its new asynchronous calls are answered busy (held back in ring 3) until it is continued. */
  private held = false;
  /** A nudge waits for the end of this thread's turn (calls were answered busy past its share: kernel/crossing-turn.ts). */
  private nudging = false;

  constructor(owner: CallsOwner) {
    this.owner = owner;
    const tape = owner.tape;
    this.calls = new AsyncCalls((batch) => owner.deliver(batch), () => owner.after(), tape?.firstCallId, tape === undefined ? undefined : 1);
  }

  /** enter makes a blocking call: its reply, or `wait` and the reply through `blocked` later. */
  enter(nr: unknown, args: unknown[]): WireReply {
    const { hooks, tape, lifetime } = this.owner;
    const taped = tape?.call('blocking', 0, nr, args);
    if (taped?.fed !== undefined) return taped.fed;
    // Past this turn's share of the thread (kernel/crossing-turn.ts) the call runs on the next turn, its isolate asleep until then.
    const late = turnFull();
    const bytes = weighCall(args, hooks.charge);
    const reply = late ? nextTurnCall(lifetime, (cancel) => hooks.syscall(nr, args, { cancel }, 'blocking', bytes)) : hooks.syscall(nr, args, { cancel: lifetime }, 'blocking', bytes);
    if (!('later' in reply)) return taped === undefined ? wire(reply) : taped.answered(wire(reply));
    const ticket = this.blocked.sleep(this.owner.cpuTime());
    // A program that blocks in its synchronous part (a read nobody answers) no longer counts as a spawn under way.
    this.owner.doneStarting();
    taped?.waiting?.();
    void reply.later.then((final) => this.answer(ticket, final, taped?.answered));
    return { t: 'wait', ticket };
  }

  /** enterAsync starts an asynchronous call: a reply at once, or `queued` and a completion later. EAGAIN past MAX_OUTSTANDING. */
  enterAsync(flags: number, nr: unknown, args: unknown[]): WireReply {
    const { hooks, tape, lifetime } = this.owner;
    const taped = tape?.call('async', flags, nr, args);
    if (taped?.fed !== undefined) return taped.fed;
    const late = turnFull();
    const bytes = weighCall(args, hooks.charge);
    const crowded = late ? "the kernel's thread has taken its share of calls this turn" : hooks.crowded?.(bytes);
    const refused = this.calls.refusal(flags, nr, this.held, crowded);
    if (refused !== undefined) {
      if (late && refused.t === 'busy') this.nudgeNextTurn();
      return taped === undefined ? refused : taped.answered(refused);
    }
    const controller = new AbortController();
    const reply = hooks.syscall(nr, args, { cancel: controller.signal }, 'async', bytes);
    if (!('later' in reply)) return taped === undefined ? wire(reply) : taped.answered(wire(reply));
    if (taped?.hold !== undefined) {
      // Until the call settles only: the lifetime signal is shared by every call of the process.
      abortUntil(lifetime, () => controller.abort(), reply.later);
      return taped.hold(reply.later);
    }
    const queued: WireReply = { t: 'queued', id: this.calls.add(flags, nr, controller, reply.later) };
    return taped === undefined ? queued : taped.answered(queued);
  }

  /** collect is a blocked call's reply that did not ride in the wake buffer (once), or EINVAL. */
  collect(ticket: unknown): WireReply {
    return this.blocked.collect(ticket);
  }

  /** nudge has the runtime issue the calls it holds back (the way to the kernel has room again). */
  nudge(): void {
    this.calls.nudge();
  }

  /** hold: the process is stopped (its new asynchronous calls are held back in ring 3) or continued (they go now). */
  hold(stopped: boolean): void {
    this.held = stopped;
    if (!stopped) this.calls.nudge();
  }

  /** cancel aborts outstanding call `id` (its completion, ECANCELED or not, still comes). False if there is none. */
  cancel(id: number): boolean {
    return this.calls.cancel(id);
  }

  /** abortAll cancels every asynchronous call still running (timers, tool calls, fetches). */
  abortAll(): void {
    this.calls.abortAll();
  }

  /** keeps: a referenced call is outstanding, or ring 3 holds calls back, so the process has not ended with main. */
  get keeps(): boolean {
    // Calls held back in ring 3 keep it too (a review: a process stopped with its last calls held back ended, status 0, and they were lost).
    return this.calls.keepsAlive || this.calls.holdsBack;
  }

  /** nudgeNextTurn has the runtime issue the calls it holds back once this thread is back in its event loop (once per turn). */
  private nudgeNextTurn(): void {
    if (this.nudging) return;
    this.nudging = true;
    void nextTurn().then(() => {
      this.nudging = false;
      this.calls.nudge();
    });
  }

  /** answer hands the reply of a blocked call to the sleeping isolate (once per ticket), through the tape's `taped` if any. */
  private answer(ticket: number, reply: Reply, taped?: (reply: WireReply) => WireReply): void {
    if (this.owner.ended() || !this.blocked.awake(ticket, this.owner.cpuTime())) return;
    const final: WireReply = 'later' in reply ? { t: 'fault', errno: 'EIO', message: 'unsettled reply' } : wire(reply);
    this.blocked.give(ticket, taped === undefined ? final : taped(final));
  }
}
