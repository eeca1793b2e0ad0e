/**
 * A shadow policy: a candidate policy that decides every request beside the
 * policy in force without ever changing what happens. Each request is also
 * decided under the shadow (its contracts' pre-conditions, then its rules,
 * its own limit counters); when the shadow's effect differs from the
 * policy in force's (allow, deny, require_approval), that disagreement is counted, kept among the recent ones
 * and handed back to be recorded (its own record type, in the chain). An
 * error in the shadow is a disagreement too (the shadow "denies"), never an
 * error of the call. Operators read the summary (`agentctl policy shadow
 * diff`) and promote the shadow through the normal replacement path.
 *
 * What it costs: a request's effect depends only on which rules match it
 * (deny over require_approval over allow; limits and flows per rule; not
 * so with risk escalation, where the first matching allow's risk counts), so
 * when the two policies differ only in some rules, a request none of those
 * rules matches gets the same effect from both, and the shadow skips it. The
 * delta (rules in one policy and not the other, and every rule with limits,
 * whose counters are each engine's own) is compiled like a policy; each
 * request pays a match against it, and the full shadow decision only when
 * it touches a rule that changed. When anything besides the rules differs
 * (defaults, contracts), or risk escalation is on, every request is decided
 * under both. The shadow reads the agent's LLM tokens and its contracts'
 * counters from the policy in force (one history, two judges).
 */
import { canonicalJson } from '../canonical-json.ts';
import { compilePolicy, type CompiledPolicy } from './compile.ts';
import { PolicyEngine } from './engine.ts';
import { STEP_BUDGET, withinBudget } from './glob.ts';
import type { LoadedPolicy } from './load.ts';
import type { PolicyDecision } from './request.ts';
import type { PolicyRequest } from '../../abi/policy-request.ts';
import type { PolicyDocument } from './schema.ts';
import type { Effect } from '../../abi/kinds.ts';

/** The most distinct (direction, rule, rule) groups counted; past it, new groups count under `other`. */
const MAX_GROUPS = 1000;
/** How many recent disagreements are kept, newest last. */
const KEEP_RECENT = 100;

export interface Disagreement {
  readonly at: number;
  readonly agentId: string;
  readonly syscall: string;
  readonly tool?: string;
  readonly path?: string;
  readonly enforced: { readonly effect: Effect; readonly rule: string };
  readonly shadow: { readonly effect: Effect; readonly rule: string; readonly reason: string };
}

/** DisagreementGroup counts the disagreements of one kind: direction and both rules. */
export interface DisagreementGroup {
  /** `allow->deny`, `deny->allow`, `allow->require_approval`, … (in force → shadow). */
  readonly direction: string;
  readonly enforcedRule: string;
  readonly shadowRule: string;
  count: number;
}

export interface ShadowSummary {
  readonly version: string;
  readonly file: string;
  readonly since: number;
  readonly decisions: number;
  readonly disagreements: number;
  readonly groups: readonly DisagreementGroup[];
  readonly recent: readonly Disagreement[];
}

/** describeDisagreement is the text of a shadow record. */
export function describeDisagreement(d: Disagreement, version: string): string {
  const what = `${d.syscall}${d.tool ? ` ${d.tool}` : ''}${d.path ? ` ${d.path}` : ''}`;
  return `shadow ${version} would ${d.shadow.effect} ${what} by rule ${d.shadow.rule} where the policy in force gave ${d.enforced.effect} by rule ${d.enforced.rule}: ${d.shadow.reason}`;
}

/**
 * deltaOf compiles the rules in which `shadow` differs from `enforced` (by
 * content, as a multiset) and every rule with limits; undefined when
 * anything besides the rules differs, so that every request needs both.
 */
export function deltaOf(enforced: LoadedPolicy, shadow: LoadedPolicy): CompiledPolicy | undefined {
  const { rules: _a, name: _an, description: _ad, ...restA } = enforced.document;
  const { rules: _b, name: _bn, description: _bd, ...restB } = shadow.document;
  if (canonicalJson(restA) !== canonicalJson(restB)) return undefined;
  // With risk escalation the effect depends on which matching allow comes first (its risk), so order matters: no delta.
  if (enforced.document.defaults?.escalate_risk !== undefined) return undefined;
  const counts = new Map<string, number>();
  for (const rule of enforced.document.rules) {
    const key = canonicalJson(rule);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const delta: PolicyDocument['rules'] = [];
  for (const rule of shadow.document.rules) {
    const key = canonicalJson(rule);
    const left = counts.get(key) ?? 0;
    if (left > 0 && rule.limits === undefined) counts.set(key, left - 1);
    else delta.push({ ...rule, id: `shadow:${delta.length}:${rule.id}` });
  }
  for (const rule of enforced.document.rules) {
    const key = canonicalJson(rule);
    const left = counts.get(key) ?? 0;
    if (left > 0 || rule.limits !== undefined) {
      if (left > 0) counts.set(key, left - 1);
      delta.push({ ...rule, id: `enforced:${delta.length}:${rule.id}` });
    }
  }
  return compilePolicy({ version: 1, rules: delta }, `delta:${enforced.version}:${shadow.version}`);
}

/** touches says whether a rule of `delta` can match `request`; its glob matches share one decision's step budget, and a match too costly to finish counts as one. */
function touches(delta: CompiledPolicy, request: PolicyRequest, now: number): boolean {
  try {
    return withinBudget(STEP_BUDGET, () => delta.candidates(request).some((rule) => rule.conditions.every((c) => c.test(request, now))));
  } catch {
    return true;
  }
}

export class ShadowPolicy {
  readonly engine: PolicyEngine;
  readonly since: number;
  private readonly clock: () => number;
  /** The delta against the policy in force of `deltaFor` (recomputed when that policy is replaced). */
  private delta: CompiledPolicy | undefined;
  private deltaFor: string | undefined;
  private decisions = 0;
  private disagreements = 0;
  private readonly groups = new Map<string, DisagreementGroup>();
  private readonly recent: Disagreement[] = [];

  /** `history`: the engine of the policy in force, whose token counts and contract counters the shadow reads. */
  constructor(policy: LoadedPolicy, clock: () => number = Date.now, history?: PolicyEngine) {
    this.engine = new PolicyEngine(policy, clock, undefined, history);
    this.clock = clock;
    this.since = clock();
  }

  get version(): string {
    return this.engine.version;
  }

  /** decide is the shadow's own decision: pre-conditions, then the rules (counted against its own limits). */
  private decide(request: PolicyRequest): PolicyDecision {
    try {
      return this.engine.precondition(request) ?? this.engine.decide(request);
    } catch (err) {
      return { effect: 'deny', rule: 'kernel.fail-closed', reason: `the shadow policy failed: ${err instanceof Error ? err.message : String(err)}`, policyVersion: this.engine.version };
    }
  }

  /**
   * compare decides `request` under the shadow (unless no changed rule can
   * match it: see deltaOf); a different effect than `enforced`, the decision
   * of `policy` in force, is a disagreement, counted and returned.
   */
  compare(request: PolicyRequest, enforced: Pick<PolicyDecision, 'effect' | 'rule'>, policy?: LoadedPolicy): Disagreement | undefined {
    this.decisions++;
    if (policy !== undefined) {
      if (this.deltaFor !== policy.version) {
        this.delta = deltaOf(policy, this.engine.policy);
        this.deltaFor = policy.version;
      }
      if (this.delta !== undefined && !touches(this.delta, request, this.clock())) return undefined;
    }
    const shadow = this.decide(request);
    // A decision changes when its effect does: the same effect by another rule (a renamed or reordered rule) is not a disagreement.
    if (shadow.effect === enforced.effect) return undefined;
    this.disagreements++;
    const d: Disagreement = {
      at: this.clock(),
      agentId: request.agentId,
      syscall: request.syscall,
      ...(request.tool !== undefined ? { tool: request.tool } : {}),
      ...(request.path !== undefined ? { path: request.path } : {}),
      enforced: { effect: enforced.effect, rule: enforced.rule },
      shadow: { effect: shadow.effect, rule: shadow.rule, reason: shadow.reason },
    };
    const direction = `${enforced.effect}->${shadow.effect}`;
    const key = `${direction}\u0000${enforced.rule}\u0000${shadow.rule}`;
    let group = this.groups.get(key);
    if (group === undefined) {
      const full = this.groups.size >= MAX_GROUPS;
      const at = full ? `${direction}\u0000other\u0000other` : key;
      group = this.groups.get(at);
      if (group === undefined) this.groups.set(at, (group = { direction, enforcedRule: full ? 'other' : enforced.rule, shadowRule: full ? 'other' : shadow.rule, count: 0 }));
    }
    group.count++;
    this.recent.push(d);
    if (this.recent.length > KEEP_RECENT) this.recent.shift();
    return d;
  }

  /** note is compare's disagreement as the text of its record (describeDisagreement), or undefined. */
  note(request: PolicyRequest, enforced: Pick<PolicyDecision, 'effect' | 'rule'>, policy: LoadedPolicy): string | undefined {
    const d = this.compare(request, enforced, policy);
    return d === undefined ? undefined : describeDisagreement(d, this.version);
  }

  summary(): ShadowSummary {
    return {
      version: this.engine.version,
      file: this.engine.policy.file,
      since: this.since,
      decisions: this.decisions,
      disagreements: this.disagreements,
      groups: [...this.groups.values()].map((g) => ({ ...g })).toSorted((a, b) => b.count - a.count),
      recent: [...this.recent],
    };
  }
}
