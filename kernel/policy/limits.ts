/**
 * RuleCounters keeps per-agent usage for rules with limits: calls let through
 * (max_calls), a sliding window of recent call times (rate), and tokens used
 * (token_budget, fed by the LLM tool). Counters are keyed by rule id so they
 * survive a policy reload that keeps the rule.
 */
import type { RuleLimits } from './schema.ts';

/** A rate window's length, ms. */
export const WINDOW_MS = { second: 1_000, minute: 60_000, hour: 3_600_000 } as const;

/** LimitKind names which of a rule's limits is used up. */
export type LimitKind = 'max_calls' | 'rate' | 'token_budget';

/** usedUp says, in the words of every record and error, that `limits`' limit of `kind` is used up. */
export function usedUp(kind: LimitKind, limits: RuleLimits): string {
  switch (kind) {
    case 'max_calls':
      return `max_calls ${limits.max_calls} reached`;
    case 'rate':
      return `rate ${limits.rate?.count} per ${limits.rate?.per} exceeded`;
    case 'token_budget':
      return `token budget ${limits.token_budget} used up`;
  }
}

/** LimitedRule is a rule with limits that a decision counts against. */
export interface LimitedRule {
  readonly id: string;
  readonly limits: RuleLimits;
}

/**
 * SharedLimits keeps rule limits where every node of a cluster counts them
 * (kernel/cluster/shared-limits.ts), so an agent cannot multiply a budget by
 * the number of nodes. The engine then counts nothing itself: its decision
 * names the limited rules, and the decision stands only once `take` agrees.
 */
export interface SharedLimits {
  /**
   * take: if no rule of `rules` (in document order) is used up for the
   * agent, counts one call against each of them and resolves undefined;
   * else resolves the first one used up, and why, counting nothing. Rejects
   * when the store cannot be asked (the caller denies: fail closed).
   */
  take(agentId: string, rules: readonly LimitedRule[]): Promise<{ readonly rule: string; readonly why: string } | undefined>;
  /** addTokens counts LLM tokens an agent used, for token_budget. */
  addTokens(agentId: string, tokens: number): void;
}

interface Usage {
  calls: number;
  /** Ring of the last `rate.count` call times. */
  times: number[];
  next: number;
}

export class RuleCounters {
  private readonly usage = new Map<string, Usage>();
  private readonly tokens = new Map<string, number>();
  private readonly tokensFrom: ((agentId: string) => number) | undefined;

  /** `tokensFrom`: read the agents' tokens there instead of counting them here (a shadow policy reads the policy in force's). */
  constructor(tokensFrom?: (agentId: string) => number) {
    this.tokensFrom = tokensFrom;
  }

  private get(ruleId: string, agentId: string): Usage | undefined {
    return this.usage.get(`${ruleId}\u0000${agentId}`);
  }

  /** exhausted says which limit of `limits` the agent has used up, or undefined. */
  exhausted(ruleId: string, agentId: string, limits: RuleLimits, now: number): string | undefined {
    const usage = this.get(ruleId, agentId);
    if (limits.max_calls !== undefined && (usage?.calls ?? 0) >= limits.max_calls) return usedUp('max_calls', limits);
    if (limits.rate !== undefined && usage !== undefined && usage.times.length >= limits.rate.count) {
      const oldest = usage.times[usage.next % usage.times.length]!;
      if (now - oldest < WINDOW_MS[limits.rate.per]) return usedUp('rate', limits);
    }
    if (limits.token_budget !== undefined && this.tokensUsed(agentId) >= limits.token_budget) return usedUp('token_budget', limits);
    return undefined;
  }

  /** count records one call let through by the rule. */
  count(ruleId: string, agentId: string, limits: RuleLimits, now: number): void {
    const key = `${ruleId}\u0000${agentId}`;
    let usage = this.usage.get(key);
    if (usage === undefined) this.usage.set(key, (usage = { calls: 0, times: [], next: 0 }));
    usage.calls++;
    if (limits.rate !== undefined) {
      if (usage.times.length < limits.rate.count) usage.times.push(now);
      else {
        usage.times[usage.next] = now;
        usage.next = (usage.next + 1) % usage.times.length;
      }
    }
  }

  /** reset starts every count from zero (a kernel that starts again, in a replay of its log). */
  reset(): void {
    this.usage.clear();
    this.tokens.clear();
  }

  /**
   * setCounts makes the agent's counts for a rule what a policy analysis'
   * witness says (kernel/policy/analysis): `calls` let through so far, and
   * `recent` of them within the rule's rate window at `now`.
   */
  setCounts(ruleId: string, agentId: string, limits: RuleLimits, calls: number, recent: number, now: number): void {
    const times = limits.rate === undefined ? [] : Array.from({ length: Math.min(recent, limits.rate.count) }, () => now);
    this.usage.set(`${ruleId}\u0000${agentId}`, { calls: Math.max(calls, recent), times, next: 0 });
  }

  /** addTokens adds LLM tokens used by an agent (for token_budget). */
  addTokens(agentId: string, tokens: number): void {
    this.tokens.set(agentId, (this.tokens.get(agentId) ?? 0) + tokens);
  }

  /** setTokens makes an agent's count what a record says it was (a replay of a decision log, kernel/replay). */
  setTokens(agentId: string, tokens: number): void {
    this.tokens.set(agentId, tokens);
  }

  tokensUsed(agentId: string): number {
    return this.tokensFrom?.(agentId) ?? this.tokens.get(agentId) ?? 0;
  }
}
