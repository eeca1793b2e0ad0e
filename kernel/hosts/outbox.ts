/**
 * Outbox keeps the kernel's messages about one sandbox (its replies, asks,
 * holds, revocations, its disposal) in order on their way to its host, with
 * at most MAX_SANDBOX_SEND_BYTES of them written to the channel and not yet
 * taken by the OS; the rest wait here, charged to that sandbox alone. What
 * it holds (waiting, or written and not yet gone) is bounded by bytes: past
 * MAX_SANDBOX_HELD_BYTES the sandbox's new asynchronous calls are answered
 * EAGAIN without being run (remote-sandbox.ts, Host.full), so what waits
 * is the budget and the replies of calls already under way; past
 * MAX_HOST_HELD_BYTES for all of a host's sandboxes, so are those of each
 * sandbox holding more than FAIR_HELD_BYTES. The kernel's memory for
 * replies is so bounded by its hosts (each: 64 MiB, and per sandbox 1 MiB
 * and the replies of its calls under way).
 *
 * Without it, one agent's replies (1,024 asynchronous calls of 64 KiB to
 * 1 MiB each) queued ~100 MiB in the channel, and the kernel took the
 * backlog it had made itself for a host that stopped reading and killed the
 * host with every agent on it (an attacker pass). A host that really stops
 * reading is judged by time (Host.heartbeat), not by these bytes.
 */

/** The most bytes of one sandbox's messages written to its host's channel and not yet taken by the OS (one larger frame goes alone). */
export const MAX_SANDBOX_SEND_BYTES = 8 * 1024 * 1024;
/** Past this many bytes held for one sandbox (waiting here, or written and not yet gone), its new asynchronous calls are EAGAIN. */
export const MAX_SANDBOX_HELD_BYTES = 16 * 1024 * 1024;
/** Past this many bytes held for all the sandboxes of one host, the new asynchronous calls of those holding more than FAIR_HELD_BYTES are EAGAIN. */
export const MAX_HOST_HELD_BYTES = 64 * 1024 * 1024;
/** What a sandbox may hold however much its host's others do: a neighbour's timers and small replies go on. */
export const FAIR_HELD_BYTES = 1024 * 1024;

interface Waiting {
  readonly frame: Buffer;
  readonly sent: (() => void) | undefined;
  /** A reply: of no use once the sandbox is disposed of. */
  readonly reply: boolean;
}

export class Outbox {
  private readonly waiting: Waiting[] = [];
  private waitingBytes = 0;
  private inFlight = 0;
  private readonly write: (frame: Buffer, done: () => void) => void;
  private readonly emptied: () => void;
  private readonly change: (bytes: number) => void;

  /**
   * `write` writes one frame to the channel and calls `done` once it has
   * left; `emptied` says nothing is written or waiting any more; `change`
   * hears each change of what it holds (the host's total).
   */
  constructor(write: (frame: Buffer, done: () => void) => void, emptied: () => void, change: (bytes: number) => void = () => undefined) {
    this.write = write;
    this.emptied = emptied;
    this.change = change;
  }

  /** held: the bytes of this sandbox's messages in the kernel (waiting here, or written and not yet taken by the OS). */
  get held(): number {
    return this.waitingBytes + this.inFlight;
  }

  /** wouldWait: a frame of `bytes` pushed now would wait here (others wait, or pump()'s test holds it back). */
  wouldWait(bytes: number): boolean {
    return this.waiting.length > 0 || (this.inFlight > 0 && this.inFlight + bytes > MAX_SANDBOX_SEND_BYTES);
  }

  /** push sends `frame` (a reply or not) after those pushed before it; `sent` runs once it has left the kernel. */
  push(frame: Buffer, reply: boolean, sent?: () => void): void {
    this.waiting.push({ frame, sent, reply });
    this.waitingBytes += frame.length;
    this.change(frame.length);
    this.pump();
  }

  /** dropReplies forgets the replies still waiting (the sandbox is being disposed of: its end need not wait behind them). */
  dropReplies(): void {
    const kept = this.waiting.filter((w) => !w.reply);
    this.waiting.length = 0;
    this.waiting.push(...kept);
    const before = this.waitingBytes;
    this.waitingBytes = kept.reduce((sum, w) => sum + w.frame.length, 0);
    this.change(this.waitingBytes - before);
  }

  private pump(): void {
    while (this.waiting.length > 0) {
      const next = this.waiting[0]!;
      if (this.inFlight > 0 && this.inFlight + next.frame.length > MAX_SANDBOX_SEND_BYTES) return;
      this.waiting.shift();
      this.waitingBytes -= next.frame.length;
      this.inFlight += next.frame.length;
      this.write(next.frame, () => {
        this.inFlight -= next.frame.length;
        this.change(-next.frame.length);
        next.sent?.();
        this.pump();
        if (this.inFlight === 0 && this.waiting.length === 0) this.emptied();
      });
    }
  }
}
