/**
 * EvaluateRate is how many decisions one agent outside the kernel may ask
 * of `POST /v1/evaluate` a second (`evaluate.per_second` in the agentd
 * configuration), how many bytes of request bodies agentd parses for them
 * (`evaluate.body_bytes_per_second`: an attacker pass held /healthz ~0.9 s
 * with one credential's bodies of 80,000 empty objects, within every cap of
 * a body, ~21 ms of the loop each), and how many bytes of decision records they may add to
 * the log (`evaluate.log_bytes_per_second`), as an agent inside is held to
 * its `syscalls_per_second` and `log_bytes_per_second`. Every answer is a
 * record in the decision log, so without them one agent credential filled
 * the disk at ~16 MiB/s (an attacker pass: 36,000 requests in 10 s with
 * 4 KiB resources), and with the rate alone still ~9 MB/s; a full disk fails
 * every agent's effects closed. Past either the answer is 429 with
 * `retry-after`; the refusals are sampled into the log as 401s and 403s are
 * (kernel/service/refusals.ts). What it keeps is one count per agent that
 * asked in the current second.
 */

/**
 * sentBytes is what a request's body will be, before it is read: its content-length (0 past `bodyLimit`: it is refused
 * with 413 unread), else (chunked) the route's `bodyLimit`.
 */
export function sentBytes(headers: Readonly<Record<string, string | string[] | undefined>>, bodyLimit: number): number {
  const length = Number(headers['content-length']);
  if (!Number.isSafeInteger(length) || length < 0) return bodyLimit;
  return length > bodyLimit ? 0 : length;
}

/** Why an agent is refused: past its evaluations this second, its bytes of records, or its bytes of bodies. */
export type PastRate = 'calls' | 'bytes' | 'body';

export class EvaluateRate {
  private readonly perSecond: number;
  private readonly bytesPerSecond: number;
  private readonly bodyBytesPerSecond: number;
  private readonly now: () => number;
  private windowStart = Number.NEGATIVE_INFINITY;
  private readonly counts = new Map<string, { calls: number; bytes: number; body: number }>();

  constructor(perSecond: number, bytesPerSecond = Number.POSITIVE_INFINITY, now: () => number = () => performance.now(), bodyBytesPerSecond = Number.POSITIVE_INFINITY) {
    this.perSecond = perSecond;
    this.bytesPerSecond = bytesPerSecond;
    this.bodyBytesPerSecond = bodyBytesPerSecond;
    this.now = now;
  }

  /** admit counts one evaluation asked for agent `agentId`: undefined if it may be answered, else why not. */
  admit(agentId: string): PastRate | undefined {
    const count = this.current(agentId);
    if (count.bytes > this.bytesPerSecond) return 'bytes';
    return ++count.calls <= this.perSecond ? undefined : 'calls';
  }

  /**
   * admitBody counts a request body of `bytes` an agent's credential sends (before it is read: its content-length), and
   * says why it is refused unread, if it is; a body alone past the rate goes through once a second. (The MCP gateway's bodies are held to the share of bodies in flight,
   * agent-load.ts, and to its per-call rate instead: one of its calls may carry 3 MiB.)
   */
  admitBody(agentId: string, bytes: number): PastRate | undefined {
    const count = this.current(agentId);
    if (count.body > 0 && count.body + bytes > this.bodyBytesPerSecond) return 'body';
    count.body += bytes;
    return undefined;
  }

  /** logged counts `bytes` of decision records an evaluation of `agentId` added to the log. */
  logged(agentId: string, bytes: number): void {
    this.current(agentId).bytes += bytes;
  }

  /** refusal says why agent `agentId` is refused, `past` what: `what` names what it asked for, `note` follows the setting's name. */
  refusal(agentId: string, past: PastRate, what: string, note = ''): string {
    if (past === 'calls') return `agent '${agentId}' asked more than ${this.perSecond} ${what} in a second (evaluate.per_second${note}); retry after 1 s`;
    if (past === 'body') return `agent '${agentId}' sent more than ${this.bodyBytesPerSecond} bytes of request bodies in a second (evaluate.body_bytes_per_second${note}); retry after 1 s`;
    return `agent '${agentId}' added more than ${this.bytesPerSecond} bytes of decision records in a second (evaluate.log_bytes_per_second${note}); retry after 1 s`;
  }

  get limit(): number {
    return this.perSecond;
  }

  private current(agentId: string): { calls: number; bytes: number; body: number } {
    const now = this.now();
    if (now - this.windowStart >= 1000) {
      this.counts.clear();
      this.windowStart = now;
    }
    let count = this.counts.get(agentId);
    if (count === undefined) this.counts.set(agentId, (count = { calls: 0, bytes: 0, body: 0 }));
    return count;
  }
}
