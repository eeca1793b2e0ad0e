/**
 * Trust scores: how far the kernel trusts each agent, from 0 to 1,000, by
 * what it has done. Every agent starts at 1,000. Each denial costs 10, a
 * denial by a rule with `on_violation` (a violation) 50, an approval the
 * answer refused 20, a circuit breaker of its opening 100 (kernel/breakers.ts);
 * clean time restores 1 point a second, up to 1,000:
 *
 *   score(t) = min(1000, score after the last penalty + (t − time of that penalty) / 1 s)
 *
 * on the kernel's clock. Policy rules can match on it (`trust: { below: 400 }`,
 * e.g. to ask a human before an agent that misbehaved acts), and when a
 * penalty takes an agent from at or above `defaults.trust_floor` to below it,
 * every live process of the agent gets SIGTRUST (which ends it), recorded
 * like any signal. `ps`, `top` and `/metrics` show the score. Only agents
 * below 1,000 are kept: one back at 1,000 is forgotten, so memory follows
 * the agents that misbehaved lately, not every id ever seen.
 */

export const TRUST_MAX = 1000;

/** What each kind of misbehaviour costs. */
export const TRUST_COST = { denial: 10, violation: 50, approvalDenied: 20, breakerTrip: 100 } as const;

/** Points of trust clean time gives back per second. */
export const TRUST_RESTORE_PER_S = 1;

export type TrustEvent = keyof typeof TRUST_COST;

interface Standing {
  /** The score right after the last penalty, and when that was (ms on the kernel's clock). */
  readonly score: number;
  readonly at: number;
}

export class TrustScores {
  private readonly clock: () => number;
  private readonly standing = new Map<string, Standing>();

  constructor(clock: () => number = Date.now) {
    this.clock = clock;
  }

  /** score is agent `agentId`'s trust now. */
  score(agentId: string): number {
    const s = this.standing.get(agentId);
    if (s === undefined) return TRUST_MAX;
    const now = Math.min(TRUST_MAX, s.score + Math.floor(((this.clock() - s.at) / 1000) * TRUST_RESTORE_PER_S));
    if (now >= TRUST_MAX) this.standing.delete(agentId);
    return now;
  }

  /** lower charges `event` to the agent and answers its score before and after. */
  lower(agentId: string, event: TrustEvent): { readonly before: number; readonly after: number } {
    const before = this.score(agentId);
    const after = Math.max(0, before - TRUST_COST[event]);
    this.standing.set(agentId, { score: after, at: this.clock() });
    return { before, after };
  }

  /** lowered lists the agents below TRUST_MAX with their scores (for metrics). */
  lowered(): [string, number][] {
    return [...this.standing.keys()].map((id) => [id, this.score(id)] as [string, number]).filter(([, score]) => score < TRUST_MAX);
  }
}
