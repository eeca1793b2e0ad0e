/**
 * Re-deciding one recorded question under a candidate policy, the part
 * `agentctl replay` (Replayer) and `agentctl replay-run --policy` (a child's
 * call on the tape) share: which argument a candidate rule or contract
 * would read that the record kept only as a digest (the call cannot be
 * re-decided then), and the candidate's decision in the kernel's order —
 * the contracts' pre-conditions, the policy, and the question autonomy
 * `supervised` turns an allowed change into.
 */
import type { PolicyRequest } from '../../abi/policy-request.ts';
import { AUTONOMY_RULE } from '../autonomy.ts';
import type { PolicyEngine } from '../policy/engine.ts';
import type { LoadedPolicy } from '../policy/load.ts';
import type { PolicyDecision } from '../policy/request.ts';

/** argNamesOf lists the arguments any rule of `policy` matches on: only a withheld one of these may decide. */
export function argNamesOf(policy: LoadedPolicy): ReadonlySet<string> {
  return new Set(policy.document.rules.flatMap((r) => (r.args ?? []).map((a) => a.arg)));
}

/**
 * readsWithheld says which withheld argument a rule or contract of `policy`
 * for this call reads, or undefined. With `unnamed` arguments, any argument
 * the record does not keep may be one of them. `argNames`: argNamesOf(policy).
 */
export function readsWithheld(policy: LoadedPolicy, argNames: ReadonlySet<string>, request: PolicyRequest, withheld: readonly string[], unnamed: boolean): string | undefined {
  const compiled = policy.compiled;
  const kept = request.args ?? {};
  const isWithheld = (name: string) => withheld.includes(name) || (unnamed && !Object.hasOwn(kept, name));
  const digest = (name: string) => (withheld.includes(name) ? `argument '${name}', which the record keeps only as a digest` : `argument '${name}', which may be among the arguments the record does not even name`);
  for (const c of compiled.contracts.covering(request.syscall, request.tool)) {
    if (c.pre.length === 0) continue;
    if (c.preArgs === 'all') return `contract ${c.id}'s pre-conditions read the call's arguments as a whole, and the record keeps some only as a digest`;
    for (const name of c.preArgs) if (isWithheld(name)) return `contract ${c.id}'s pre-conditions read ${digest(name)}`;
  }
  if (!unnamed && !withheld.some((name) => argNames.has(name))) return undefined;
  for (const rule of compiled.relevant(request.syscall, request.tool)) {
    const arg = rule.rule.args?.find((a) => isWithheld(a.arg));
    if (arg !== undefined) return `rule ${rule.id} matches ${digest(arg.arg)}`;
  }
  return undefined;
}

/**
 * redecide is `engine`'s decision on a recorded question: its contracts'
 * pre-conditions, then its policy (limits counted); an allow of a change by
 * an agent that was at autonomy supervised (`recordedRule` the autonomy
 * rule, or the request says so) is a question, as the kernel made it.
 */
export function redecide(engine: PolicyEngine, request: PolicyRequest, recordedRule: string): PolicyDecision {
  const decision = engine.precondition(request) ?? engine.decide(request);
  if ((request.supervised === true || recordedRule === AUTONOMY_RULE) && decision.effect === 'allow') {
    return { ...decision, effect: 'require_approval', rule: AUTONOMY_RULE, reason: `agent ${request.agentId} is at autonomy supervised (the candidate's rule ${decision.rule} allows it)` };
  }
  return decision;
}
