/**
 * EvaluateRate is how many decisions one agent outside the kernel may ask
 * of `POST /v1/evaluate` a second (`evaluate.per_second` in the agentd
 * configuration), as an agent inside is held to its `syscalls_per_second`.
 * Every answer is a record in the decision log, so without it one agent
 * credential filled the disk at ~16 MiB/s (an attacker pass: 36,000
 * requests in 10 s with 4 KiB resources), and a full disk fails every
 * agent's effects closed. Past the rate the answer is 429 with
 * `retry-after`; the refusals are sampled into the log as 401s and 403s are
 * (kernel/service/refusals.ts). What it keeps is one count per agent that
 * asked in the current second.
 */
export class EvaluateRate {
  private readonly perSecond: number;
  private readonly now: () => number;
  private windowStart = Number.NEGATIVE_INFINITY;
  private readonly counts = new Map<string, number>();

  constructor(perSecond: number, now: () => number = () => performance.now()) {
    this.perSecond = perSecond;
    this.now = now;
  }

  /** admit counts one evaluation asked for agent `agentId`: false when it is past the rate this second. */
  admit(agentId: string): boolean {
    const now = this.now();
    if (now - this.windowStart >= 1000) {
      this.counts.clear();
      this.windowStart = now;
    }
    const count = (this.counts.get(agentId) ?? 0) + 1;
    this.counts.set(agentId, count);
    return count <= this.perSecond;
  }

  get limit(): number {
    return this.perSecond;
  }
}
