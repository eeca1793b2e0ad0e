/**
 * PolicyEngine decides requests against the loaded policy. Deny overrides
 * require_approval overrides allow; a rule whose limit is used up denies;
 * no matching rule means deny. The clock is injected, so evaluation is
 * deterministic. `decide` counts calls against limits; `check` and `explain`
 * never change state.
 */
import type { CompiledRule } from './compile.ts';
import { RuleCounters } from './limits.ts';
import type { LoadedPolicy } from './load.ts';
import type { PolicyDecision, PolicyRequest } from './request.ts';

export interface RuleTrace {
  readonly id: string;
  readonly effect: CompiledRule['effect'];
  /** false when the rule's syscall or tool list rules it out before any condition. */
  readonly candidate: boolean;
  readonly conditions: readonly { field: string; matched: boolean }[];
  readonly matched: boolean;
  readonly limit?: string;
}

export interface Explanation {
  readonly decision: PolicyDecision;
  readonly rules: readonly RuleTrace[];
}

function matches(rule: CompiledRule, request: PolicyRequest, now: number): boolean {
  for (const c of rule.conditions) if (!c.test(request, now)) return false;
  return true;
}

/** permitsFlows: a request making guarded flows can be let through only by a rule whose allow_flows names each of them. */
function permitsFlows(rule: CompiledRule, request: PolicyRequest): boolean {
  const flows = request.flows;
  if (flows === undefined || flows.length === 0) return true;
  const allowed = rule.rule.allow_flows;
  return allowed !== undefined && flows.every((f) => (allowed as readonly string[]).includes(f));
}

export class PolicyEngine {
  private loaded: LoadedPolicy;
  private readonly clock: () => number;
  readonly counters = new RuleCounters();

  constructor(policy: LoadedPolicy, clock: () => number = Date.now) {
    this.loaded = policy;
    this.clock = clock;
  }

  get policy(): LoadedPolicy {
    return this.loaded;
  }

  get version(): string {
    return this.loaded.version;
  }

  /** replace swaps in a new, already validated policy; counters carry over by rule id. */
  replace(policy: LoadedPolicy): void {
    this.loaded = policy;
  }

  /** decide evaluates `request` and counts it against rule limits when it is let through. */
  decide(request: PolicyRequest): PolicyDecision {
    return this.evaluate(request, true);
  }

  /** check answers "would this be allowed?" without counting anything. */
  check(request: PolicyRequest): PolicyDecision {
    return this.evaluate(request, false);
  }

  private decision(rule: CompiledRule, effect: PolicyDecision['effect'], reason: string): PolicyDecision {
    const r = rule.rule;
    return {
      effect,
      rule: rule.id,
      reason,
      policyVersion: this.loaded.version,
      ...(r.on_violation && effect === 'deny' ? { onViolation: r.on_violation } : {}),
      ...(r.risk ? { risk: r.risk } : {}),
      ...(effect === 'require_approval' ? { approvalTimeoutMs: this.loaded.compiled.approvalTimeoutMs } : {}),
    };
  }

  private evaluate(request: PolicyRequest, count: boolean): PolicyDecision {
    const now = this.clock();
    const bucket = this.loaded.compiled.candidates(request.syscall, request.tool);
    for (const rule of bucket.deny) {
      if (matches(rule, request, now)) return this.decision(rule, 'deny', rule.rule.reason ?? `denied by rule ${rule.id}`);
    }
    let chosen: CompiledRule | undefined;
    let limited: CompiledRule[] | undefined;
    let flowBlocked: CompiledRule | undefined;
    for (const list of [bucket.approval, bucket.allow]) {
      for (const rule of list) {
        if (chosen !== undefined && rule.limits === undefined) continue;
        if (!matches(rule, request, now)) continue;
        if (!permitsFlows(rule, request)) {
          flowBlocked ??= rule;
          continue;
        }
        if (rule.limits !== undefined) {
          const used = this.counters.exhausted(rule.id, request.agentId, rule.limits, now);
          if (used !== undefined) return this.decision(rule, 'deny', `limit: ${used}`);
          (limited ??= []).push(rule);
        }
        chosen ??= rule;
      }
    }
    if (chosen === undefined && flowBlocked !== undefined) {
      const flows = request.flows!.join(', ');
      return { effect: 'deny', rule: `flow:${flows}`, reason: `rule ${flowBlocked.id} matches but does not name allow_flows: [${flows}]`, policyVersion: this.loaded.version };
    }
    if (chosen === undefined) {
      return { effect: 'deny', rule: 'default-deny', reason: 'no rule matches', policyVersion: this.loaded.version };
    }
    if (count && limited !== undefined) for (const rule of limited) this.counters.count(rule.id, request.agentId, rule.limits!, now);
    return this.decision(chosen, chosen.effect, chosen.rule.reason ?? `${chosen.effect === 'allow' ? 'allowed' : 'needs approval'} by rule ${chosen.id}`);
  }

  /** explain traces every rule against `request` and gives the decision `check` would. */
  explain(request: PolicyRequest): Explanation {
    const now = this.clock();
    const bucket = this.loaded.compiled.candidates(request.syscall, request.tool);
    const candidates = new Set([...bucket.deny, ...bucket.approval, ...bucket.allow]);
    const rules = this.loaded.compiled.rules.map((rule): RuleTrace => {
      const conditions = rule.conditions.map((c) => ({ field: c.field, matched: c.test(request, now) }));
      if (request.flows !== undefined && request.flows.length > 0 && rule.effect !== 'deny') conditions.push({ field: 'allow_flows', matched: permitsFlows(rule, request) });
      const candidate = candidates.has(rule);
      const matched = candidate && conditions.every((c) => c.matched);
      const limit = matched && rule.limits ? this.counters.exhausted(rule.id, request.agentId, rule.limits, now) : undefined;
      return { id: rule.id, effect: rule.effect, candidate, conditions, matched, ...(limit ? { limit } : {}) };
    });
    return { decision: this.check(request), rules };
  }
}
