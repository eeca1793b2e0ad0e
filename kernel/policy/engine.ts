/**
 * PolicyEngine decides requests against the loaded policy. Deny overrides
 * require_approval overrides allow; a rule whose limit is used up denies;
 * no matching rule means deny; a glob that would cost more than its step
 * budget to match denies the request. The clock is injected, so evaluation is
 * deterministic. `decide` counts calls against limits; `check` and `explain`
 * never change state. With SharedLimits (a cluster), limits are counted in
 * the cluster's store instead: `decide` names the limited rules on its
 * decision and `settle` asks the store (`check` and `explain` then leave
 * those limits out).
 */
import type { BreakerSettings } from '../breakers.ts';
import type { CompiledRule } from './compile.ts';
import { closeBudget, MatchCostError, openBudget, STEP_BUDGET } from './glob.ts';
import { ContractLedger, type CallResult, type ContractFailure } from './contracts.ts';
import { RuleCounters, type LimitedRule, type SharedLimits } from './limits.ts';
import type { LoadedPolicy } from './load.ts';
import type { PolicyDecision } from './request.ts';
import type { PolicyRequest } from '../../abi/policy-request.ts';
import type { Risk } from './schema.ts';

export interface RuleTrace {
  readonly id: string;
  readonly effect: CompiledRule['effect'];
  /** false when the rule's syscall or tool list rules it out before any condition. */
  readonly candidate: boolean;
  readonly conditions: readonly { field: string; matched: boolean }[];
  readonly matched: boolean;
  readonly limit?: string;
  /** Why an argument was not read as sent (too long; a path not in canonical form): it matched the rule only if the rule denies. */
  readonly note?: string;
}

export interface Explanation {
  readonly decision: PolicyDecision;
  readonly rules: readonly RuleTrace[];
}

/** RISK_RULE names the question an allow of a risky rule becomes under defaults.escalate_risk. */
export const RISK_RULE = 'kernel.risk-escalation';

/** RISK_RANK orders risks, lowest first (escalate_risk compares with it). */
export const RISK_RANK: Readonly<Record<Risk, number>> = { low: 0, medium: 1, high: 2, critical: 3 };

/** contractRule names the deny of a call whose contract's pre-condition failed. */
export const contractRule = (id: string): string => `contract:${id}`;

/** SHARED_LIMITS_RULE names the deny of a call whose limits the cluster counts while its store is out of reach. */
export const SHARED_LIMITS_RULE = 'kernel.shared-limits';

/** The condition fields that stay the same for a whole process: its access kind, lineage, agent, labels and capabilities. */
const FIXED_FIELDS: ReadonlySet<string> = new Set(['access', 'lineage', 'agents', 'labels', 'capabilities']);

/** steadyRule: `rule` answers every tool-less call of one process the same way: it counts nothing and reads no time, trust, argument or path (or it names tools, and so never matches such a call). */
function steadyRule(rule: CompiledRule): boolean {
  if (rule.conditions.some((c) => c.field === 'tools')) return true;
  return rule.limits === undefined && !rule.timed && rule.argNote === undefined && rule.conditions.every((c) => FIXED_FIELDS.has(c.field));
}

/** Each policy's steady answers by syscall, worked out once (a policy is immutable once loaded). */
const STEADY = new WeakMap<LoadedPolicy, Map<string, boolean>>();

/** first is whichever of two rules comes first in the document. */
function first(a: CompiledRule | undefined, b: CompiledRule): CompiledRule {
  return a === undefined || b.order < a.order ? b : a;
}

function matches(rule: CompiledRule, request: PolicyRequest, now: number): boolean {
  for (const c of rule.conditions) if (!c.test(request, now)) return false;
  return true;
}

function testWithin(condition: CompiledRule['conditions'][number], request: PolicyRequest, now: number): boolean {
  try {
    return condition.test(request, now);
  } catch (err) {
    if (err instanceof MatchCostError) return false;
    throw err;
  }
}

/** permitsFlows: a request making guarded flows can be let through only by a rule whose allow_flows names each of them. */
function permitsFlows(rule: CompiledRule, request: PolicyRequest): boolean {
  const flows = request.flows;
  if (flows === undefined || flows.length === 0) return true;
  const allowed = rule.rule.allow_flows;
  return allowed !== undefined && flows.every((f) => (allowed as readonly string[]).includes(f));
}

/** sharedRules: the limited rules a decision counts against, in document order (the first used up is the one that denies). */
function sharedRules(limited: readonly CompiledRule[]): readonly LimitedRule[] {
  return limited.toSorted((a, b) => a.order - b.order).map((r) => ({ id: r.id, limits: r.limits! }));
}

export class PolicyEngine {
  private loaded: LoadedPolicy;
  private readonly clock: () => number;
  readonly counters: RuleCounters;
  /** Where limits are counted when not here: the cluster's store. */
  readonly shared: SharedLimits | undefined;

  /** The intent contracts' counters and checks, for the kernel's lifetime (they survive a reload). */
  private contracts: ContractLedger;

  /**
   * `shared`: the cluster's store of rule limits. `history`: an engine whose
   * agents' LLM tokens and contract counters this one reads instead of
   * keeping its own (a shadow policy reads the policy in force's).
   */
  constructor(policy: LoadedPolicy, clock: () => number = Date.now, shared?: SharedLimits, history?: PolicyEngine) {
    this.loaded = policy;
    this.clock = clock;
    this.shared = shared;
    this.counters = new RuleCounters(history === undefined ? undefined : (agentId) => history.counters.tokensUsed(agentId));
    this.contracts = history?.contracts ?? new ContractLedger((agentId) => this.counters.tokensUsed(agentId));
  }

  /**
   * useContracts makes `ledger` the intent contracts' counters, or fresh
   * ones (from zero) when none is given, and answers the ones now in use: a
   * replay keeps one ledger per cluster node, as each node counts its own.
   */
  useContracts(ledger?: ContractLedger): ContractLedger {
    this.contracts = ledger ?? new ContractLedger((agentId) => this.counters.tokensUsed(agentId));
    return this.contracts;
  }

  /** hasContracts says whether any intent contract covers calls of `syscall` (and `tool`). */
  hasContracts(syscall: string, tool: string | undefined): boolean {
    return this.loaded.compiled.contracts.covering(syscall, tool).length > 0;
  }

  /**
   * precondition checks the pre-conditions of the intent contracts covering
   * `request` (kernel/policy/contracts.ts), before the policy is asked: a
   * deny naming the contract and the expression, or undefined.
   */
  precondition(request: PolicyRequest): PolicyDecision | undefined {
    const covering = this.loaded.compiled.contracts.covering(request.syscall, request.tool);
    if (covering.length === 0) return undefined;
    const failed = this.contracts.before(covering, request);
    if (failed === undefined) return undefined;
    return { effect: 'deny', rule: contractRule(failed.contract), reason: `pre-condition \`${failed.expression}\` of contract ${failed.contract} ${failed.why}`, policyVersion: this.loaded.version };
  }

  /** afterward counts a call that ran against its contracts and checks their post-conditions and invariants: the ones that failed. */
  afterward(request: PolicyRequest, result: CallResult): ContractFailure[] {
    const covering = this.loaded.compiled.contracts.covering(request.syscall, request.tool);
    return covering.length === 0 ? [] : this.contracts.after(covering, request, result);
  }

  /** addTokens counts LLM tokens an agent used against token_budget limits (in the cluster's store too, with one). */
  addTokens(agentId: string, tokens: number): void {
    this.counters.addTokens(agentId, tokens);
    this.shared?.addTokens(agentId, tokens);
  }

  /**
   * settle finishes a decision of `decide` that names rules whose limits
   * the cluster counts: it stands once the store has counted the call, a
   * limit used up there denies (as one used up here would), and a store out
   * of reach denies (EIO, fail closed). Any other decision is final as it is.
   */
  async settle(decision: PolicyDecision, agentId: string): Promise<PolicyDecision> {
    const rules = decision.shared;
    if (rules === undefined || this.shared === undefined) return decision;
    const { shared: _counted, ...final } = decision;
    let used: { rule: string; why: string } | undefined;
    try {
      used = await this.shared.take(agentId, rules);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      return { effect: 'deny', rule: SHARED_LIMITS_RULE, reason: `the limits of rule ${rules.map((r) => r.id).join(', ')} are counted by the cluster and cannot be read now (${why}); denied (fail closed)`, policyVersion: decision.policyVersion, errno: 'EIO' };
    }
    if (used === undefined) return final;
    const rule = this.loaded.compiled.rules.find((r) => r.id === used.rule);
    return rule !== undefined ? this.decision(rule, 'deny', `limit: ${used.why}`) : { effect: 'deny', rule: used.rule, reason: `limit: ${used.why}`, policyVersion: decision.policyVersion };
  }

  get policy(): LoadedPolicy {
    return this.loaded;
  }

  get version(): string {
    return this.loaded.version;
  }

  /** approvalTimeoutMs is how long a question of this policy waits (defaults.approval_timeout_ms). */
  get approvalTimeoutMs(): number {
    return this.loaded.compiled.approvalTimeoutMs;
  }

  /** breaker is the policy's defaults.breaker: the circuit breakers' settings (none: no breakers). */
  get breaker(): BreakerSettings | undefined {
    return this.loaded.compiled.breaker;
  }

  /** trustFloor is the policy's defaults.trust_floor: an agent below it gets SIGTRUST. */
  get trustFloor(): number | undefined {
    return this.loaded.compiled.trustFloor;
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

  /**
   * steady says whether the policy in force answers every call of
   * `syscall` (a call with no tool) from one process the same way for as
   * long as it is in force: no rule that could match it counts calls, reads
   * the time, the trust score, its arguments or a path, and no intent
   * contract covers it. A sandbox host may serve such calls itself under a
   * lease (kernel/hosts/leases.ts).
   */
  steady(syscall: string): boolean {
    let known = STEADY.get(this.loaded);
    if (known === undefined) STEADY.set(this.loaded, (known = new Map()));
    let steady = known.get(syscall);
    if (steady === undefined) {
      steady = !this.hasContracts(syscall, undefined) && this.loaded.compiled.relevant(syscall, undefined).every(steadyRule);
      known.set(syscall, steady);
    }
    return steady;
  }

  /** escalated: the decision of `rule` when defaults.escalate_risk makes its allow a question, else undefined. */
  private escalated(rule: CompiledRule): PolicyDecision | undefined {
    const at = this.loaded.compiled.escalateRisk;
    const risk = rule.rule.risk;
    if (at === undefined || risk === undefined || rule.effect !== 'allow' || RISK_RANK[risk] < RISK_RANK[at]) return undefined;
    return {
      effect: 'require_approval',
      rule: RISK_RULE,
      reason: `rule ${rule.id} allows it at risk ${risk}; the policy asks a human from risk ${at} (defaults.escalate_risk)`,
      policyVersion: this.loaded.version,
      risk,
      approvalTimeoutMs: this.loaded.compiled.approvalTimeoutMs,
    };
  }

  /** The deny of a request no rule matches, made once per loaded policy. */
  private noRule: PolicyDecision | undefined;

  /**
   * defaultDeny is the deny of a request no rule matches; when a path glob
   * of an allow or require_approval rule among `candidates` did not read an
   * argument (a path not in canonical form), it says so.
   */
  private defaultDeny(candidates: readonly CompiledRule[], request: PolicyRequest): PolicyDecision {
    const version = this.loaded.version;
    for (const rule of candidates) {
      const note = rule.effect === 'deny' ? undefined : rule.pathNote?.(request);
      if (note !== undefined) return { effect: 'deny', rule: 'default-deny', reason: `no rule matches: ${note}`, policyVersion: version };
    }
    if (this.noRule?.policyVersion !== version) this.noRule = Object.freeze({ effect: 'deny', rule: 'default-deny', reason: 'no rule matches', policyVersion: version });
    return this.noRule;
  }

  /** decisions caches the usual decision of each rule (no limit or flow involved), per loaded policy. */
  private readonly decisions = new WeakMap<CompiledRule, PolicyDecision>();

  private decision(rule: CompiledRule, effect: PolicyDecision['effect'], reason?: string): PolicyDecision {
    if (reason === undefined) {
      const cached = this.decisions.get(rule);
      if (cached !== undefined && cached.policyVersion === this.loaded.version) return cached;
    }
    const r = rule.rule;
    const made: PolicyDecision = Object.freeze({
      effect,
      rule: rule.id,
      reason: reason ?? r.reason ?? `${effect === 'deny' ? 'denied' : effect === 'allow' ? 'allowed' : 'needs approval'} by rule ${rule.id}`,
      policyVersion: this.loaded.version,
      ...(r.on_violation && effect === 'deny' ? { onViolation: r.on_violation } : {}),
      ...(r.risk ? { risk: r.risk } : {}),
      ...(effect === 'require_approval' ? { approvalTimeoutMs: this.loaded.compiled.approvalTimeoutMs } : {}),
    });
    if (reason === undefined) this.decisions.set(rule, made);
    return made;
  }

  /**
   * evaluate tries every candidate once: the first (in document order)
   * matching deny wins; then a matching rule whose limit is used up denies;
   * then the first matching require_approval, then the first matching allow;
   * else default deny. All its glob matches share one STEP_BUDGET.
   */
  private evaluate(request: PolicyRequest, count: boolean): PolicyDecision {
    const outer = openBudget(STEP_BUDGET);
    try {
      return this.evaluateWithin(request, count);
    } finally {
      closeBudget(outer);
    }
  }

  private evaluateWithin(request: PolicyRequest, count: boolean): PolicyDecision {
    // The clock is read once, and only if a candidate has a time window or limits (most decisions need no time).
    let now = NaN;
    let deny: CompiledRule | undefined;
    let approval: CompiledRule | undefined;
    let allow: CompiledRule | undefined;
    let usedUp: CompiledRule | undefined;
    let usedUpWhy = '';
    let flowBlocked: CompiledRule | undefined;
    let limited: CompiledRule[] | undefined;
    const candidates = this.loaded.compiled.candidates(request);
    for (const rule of candidates) {
      let matched: boolean;
      if (rule.timed && Number.isNaN(now)) now = this.clock();
      try {
        matched = matches(rule, request, now);
      } catch (err) {
        if (!(err instanceof MatchCostError)) throw err;
        return { effect: 'deny', rule: 'kernel.match-cost', reason: `rule ${rule.id}: ${err.message}; denied (fail closed)`, policyVersion: this.loaded.version };
      }
      if (!matched) continue;
      if (rule.effect === 'deny') {
        deny = first(deny, rule);
        continue;
      }
      if (!permitsFlows(rule, request)) {
        flowBlocked = first(flowBlocked, rule);
        continue;
      }
      if (rule.limits !== undefined) {
        if (Number.isNaN(now)) now = this.clock();
        const used = this.shared === undefined ? this.counters.exhausted(rule.id, request.agentId, rule.limits, now) : undefined;
        if (used !== undefined) {
          if (first(usedUp, rule) === rule) usedUpWhy = used;
          usedUp = first(usedUp, rule);
          continue;
        }
        (limited ??= []).push(rule);
      }
      if (rule.effect === 'require_approval') approval = first(approval, rule);
      else allow = first(allow, rule);
    }
    if (deny !== undefined) return this.decision(deny, 'deny', deny.argNote?.(request));
    if (usedUp !== undefined) return this.decision(usedUp, 'deny', `limit: ${usedUpWhy}`);
    const chosen = approval ?? allow;
    if (chosen === undefined && flowBlocked !== undefined) {
      const flows = request.flows!.join(', ');
      return { effect: 'deny', rule: `flow:${flows}`, reason: `rule ${flowBlocked.id} matches but does not name allow_flows: [${flows}]`, policyVersion: this.loaded.version };
    }
    if (chosen === undefined) return this.defaultDeny(candidates, request);
    const made = this.escalated(chosen) ?? this.decision(chosen, chosen.effect);
    if (count && limited !== undefined) {
      if (this.shared !== undefined) return { ...made, shared: sharedRules(limited) };
      for (const rule of limited) this.counters.count(rule.id, request.agentId, rule.limits!, now);
    }
    return made;
  }

  /** explain traces every rule against `request` and gives the decision `check` would. */
  explain(request: PolicyRequest): Explanation {
    const now = this.clock();
    const candidates = new Set(this.loaded.compiled.relevant(request.syscall, request.tool));
    const rules = this.loaded.compiled.rules.map((rule): RuleTrace => {
      // A condition past its step budget shows as unmatched; the decision (from check) is then kernel.match-cost's deny.
      const conditions = rule.conditions.map((c) => ({ field: c.field, matched: testWithin(c, request, now) }));
      if (request.flows !== undefined && request.flows.length > 0 && rule.effect !== 'deny') conditions.push({ field: 'allow_flows', matched: permitsFlows(rule, request) });
      const candidate = candidates.has(rule);
      const matched = candidate && conditions.every((c) => c.matched);
      const limit = matched && rule.limits && this.shared === undefined ? this.counters.exhausted(rule.id, request.agentId, rule.limits, now) : undefined;
      const note = candidate ? rule.argNote?.(request) : undefined;
      return { id: rule.id, effect: rule.effect, candidate, conditions, matched, ...(limit ? { limit } : {}), ...(note === undefined ? {} : { note }) };
    });
    return { decision: this.check(request), rules };
  }
}
