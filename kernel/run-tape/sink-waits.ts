/**
 * SinkWaits makes a replay's writes to the operator's stdout and stderr wait
 * where the recorded ones did. In a recorded run a write to a sink waits
 * while the reader is slow (stream-output.ts): its asynchronous call is
 * answered `queued` and completes later. The replaying kernel must answer
 * such a call `queued` too, so the replay's sink makes the write of a call
 * recorded `queued` wait — and has it taken at once: the reader is not
 * replayed, and the call's completion, like the time it came, is the
 * recording's (the player delivers it in the recorded order, whatever it
 * says: a value, or EPIPE from a reader that went away). Taken at once, the
 * replay's writes never wait longer than the recorded ones, so the kernel's
 * bound on a process's waiting writes (EAGAIN) refuses none that the
 * recorded kernel took; had they waited until their recorded completions,
 * a write issued after the recorded reader had drained, but before the
 * program was told, was refused.
 */

export class SinkWaits {
  /** The recorded id of the call being answered, when the recording has it `queued`. */
  private expected: number | undefined;
  /** Calls whose writes waited: their completions are the recording's alone. */
  private readonly waited = new Set<number>();

  /** answering names the call the replaying kernel is answering now: `id` if it was recorded `queued`, else undefined (and undefined once it is answered). */
  answering(id: number | undefined): void {
    this.expected = id;
  }

  /** wait is what the replay's sink returns for a write: a promise (taken) for the write of a call recorded `queued`, else undefined (taken, not waiting). */
  wait(): Promise<void> | undefined {
    const id = this.expected;
    if (id === undefined) return undefined;
    this.expected = undefined;
    this.waited.add(id);
    return Promise.resolve();
  }

  /** waitedFor: call `id` was a write that waited for the reader (told once, as its completion is delivered). */
  waitedFor(id: number): boolean {
    return this.waited.delete(id);
  }
}
