/**
 * Outbox keeps the kernel's messages about one sandbox (its replies, asks,
 * holds, revocations, its disposal) in order on their way to its host, with
 * at most MAX_SANDBOX_SEND_BYTES of them written to the channel and not yet
 * taken by the OS; the rest wait here, charged to that sandbox alone. Its
 * calls are bounded (a reply waiting here still counts as an outstanding
 * call: remote-sandbox.ts), so what waits is at most its calls' replies.
 *
 * Without it, one agent's replies (1,024 asynchronous calls of 64 KiB to
 * 1 MiB each) queued ~100 MiB in the channel, and the kernel took the
 * backlog it had made itself for a host that stopped reading and killed the
 * host with every agent on it (an attacker pass). A host that really stops
 * reading is judged by time (Host.heartbeat), not by these bytes.
 */

/** The most bytes of one sandbox's messages written to its host's channel and not yet taken by the OS (one larger frame goes alone). */
export const MAX_SANDBOX_SEND_BYTES = 8 * 1024 * 1024;

interface Waiting {
  readonly frame: Buffer;
  readonly sent: (() => void) | undefined;
  /** A reply: of no use once the sandbox is disposed of. */
  readonly reply: boolean;
}

export class Outbox {
  private readonly waiting: Waiting[] = [];
  private inFlight = 0;
  private readonly write: (frame: Buffer, done: () => void) => void;
  private readonly emptied: () => void;

  /** `write` writes one frame to the channel and calls `done` once it has left; `emptied` says nothing is written or waiting any more. */
  constructor(write: (frame: Buffer, done: () => void) => void, emptied: () => void) {
    this.write = write;
    this.emptied = emptied;
  }

  /** backedUp: a frame pushed now would wait. */
  get backedUp(): boolean {
    return this.waiting.length > 0 || this.inFlight >= MAX_SANDBOX_SEND_BYTES;
  }

  /** push sends `frame` (a reply or not) after those pushed before it; `sent` runs once it has left the kernel. */
  push(frame: Buffer, reply: boolean, sent?: () => void): void {
    this.waiting.push({ frame, sent, reply });
    this.pump();
  }

  /** dropReplies forgets the replies still waiting (the sandbox is being disposed of: its end need not wait behind them). */
  dropReplies(): void {
    const kept = this.waiting.filter((w) => !w.reply);
    this.waiting.length = 0;
    this.waiting.push(...kept);
  }

  private pump(): void {
    while (this.waiting.length > 0) {
      const next = this.waiting[0]!;
      if (this.inFlight > 0 && this.inFlight + next.frame.length > MAX_SANDBOX_SEND_BYTES) return;
      this.waiting.shift();
      this.inFlight += next.frame.length;
      this.write(next.frame, () => {
        this.inFlight -= next.frame.length;
        next.sent?.();
        this.pump();
        if (this.inFlight === 0 && this.waiting.length === 0) this.emptied();
      });
    }
  }
}
