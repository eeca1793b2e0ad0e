/**
 * The hand-over of a blocked call's reply to the isolate that sleeps for it
 * (kernel/sandbox-calls.ts): a private SharedArrayBuffer the runtime
 * (userspace/runtime/boundary.js) waits on. Its layout (WAKE_LAYOUT): Int32
 * [0] the flag; Int32 [1] the wakeKey of the ticket whose number reply is in
 * the Float64 at byte 8, or 0 (collect the reply). A reply that is a number
 * and nothing else (a pid, a byte count) rides in the buffer; any other is
 * kept here until the runtime collects it with `__collect(ticket)`, a second
 * crossing. Keyed by ticket, a runtime that ever woke for another call than
 * the one it waits for collects (and gets EINVAL) rather than taking that
 * call's number. It also keeps which ticket the isolate sleeps on, and how
 * long it has slept: isolated-vm's cpuTime runs on during the sleep, which
 * is not the program's CPU.
 */
import type { WireReply } from './wire-reply.ts';

const WAKE_BYTES = 16;
const WAKE_COLLECT = 0;

/** wakeKey is a ticket as the wake buffer holds it: 1 … 2^31 − 2 (the runtime computes the same). */
const wakeKey = (ticket: number): number => (ticket % 2147483646) + 1;

export class BlockedReply {
  /** The buffer the runtime is handed at boot (as `__wake`). */
  readonly buffer = new SharedArrayBuffer(WAKE_BYTES);
  private readonly wake = new Int32Array(this.buffer, 0, 2);
  private readonly number = new Float64Array(this.buffer, 8, 1);
  private readonly ready = new Map<number, WireReply>();
  private nextTicket = 1;
  /** The ticket the isolate is sleeping on, if any. */
  private sleepingOn: number | undefined;
  /** The isolate's cpuTime when it went to sleep, and what it has slept before. */
  private sleepStart = 0n;
  private sleptNs = 0n;

  /** sleep: the isolate goes to sleep for a blocked call, at its cpuTime `cpuNow`; the ticket to wake it with. */
  sleep(cpuNow: bigint): number {
    const ticket = this.nextTicket++;
    this.sleepingOn = ticket;
    this.sleepStart = cpuNow;
    return ticket;
  }

  /** sleeping: the isolate is asleep waiting for a blocked call's reply. */
  get sleeping(): boolean {
    return this.sleepingOn !== undefined;
  }

  /** awake takes the isolate out of its sleep for `ticket` at cpuTime `cpuNow`: false if it does not sleep for that ticket (then nothing is to be given). */
  awake(ticket: number, cpuNow: bigint): boolean {
    if (this.sleepingOn !== ticket) return false;
    this.sleepingOn = undefined;
    this.sleptNs += cpuNow - this.sleepStart;
    return true;
  }

  /** cpuNs is the program's CPU time from the isolate's cpuTime `cpuNow`: less its sleeps in blocked calls, the one under way included. */
  cpuNs(cpuNow: bigint): bigint {
    return cpuNow - this.sleptNs - (this.sleepingOn === undefined ? 0n : cpuNow - this.sleepStart);
  }

  /** give hands call `ticket`'s reply over (in the buffer if it is a number alone, else kept to be collected) and wakes the runtime. */
  give(ticket: number, reply: WireReply): void {
    if (reply.t === 'value' && typeof reply.v === 'number' && reply.sig === undefined) {
      this.number[0] = reply.v;
      Atomics.store(this.wake, 1, wakeKey(ticket));
    } else {
      this.ready.set(ticket, reply);
      Atomics.store(this.wake, 1, WAKE_COLLECT);
    }
    Atomics.store(this.wake, 0, 1);
    Atomics.notify(this.wake, 0);
  }

  /** collect is the kept reply of call `ticket` (once), or EINVAL. */
  collect(ticket: unknown): WireReply {
    const reply = typeof ticket === 'number' ? this.ready.get(ticket) : undefined;
    if (reply === undefined) return { t: 'fault', errno: 'EINVAL', message: 'no reply is waiting for that ticket' };
    this.ready.delete(ticket as number);
    return reply;
  }
}
