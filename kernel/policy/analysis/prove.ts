/**
 * proveClaim checks a claim (claim.ts) against a policy: in each slice of
 * the requests, the solver looks for one the conditions describe that the
 * policy decides against the claim. None anywhere: proved. One that the
 * engine confirms (the conditions hold on it, checked in JavaScript, and
 * the engine's decision breaks the claim): a counterexample. The solver
 * giving up somewhere, with no counterexample found: unknown, never proved.
 */
import { escapeGlob } from '../glob.ts';
import type { LoadedPolicy } from '../load.ts';
import type { PolicyRule } from '../schema.ts';
import { mayOverlap } from './analyze.ts';
import { ask } from './ask.ts';
import { conditionFormula, holds, type Claim } from './claim.ts';
import { and, EFFECTS, or, type RuleAt } from './model.ts';
import { rulesIn, slicesOf } from './slices.ts';
import type { Solver } from './smt.ts';
import { decideWitness, type Witness } from './witness.ts';

export interface ProofReport {
  readonly policy: { readonly file: string; readonly version: string };
  readonly claim: string;
  readonly verdict: 'proved' | 'counterexample' | 'unknown';
  readonly counterexample?: { readonly slice: string; readonly witness: Witness; readonly decision: { readonly effect: string; readonly rule: string; readonly reason: string } };
  readonly unanswered: readonly { readonly slice: string; readonly why: string }[];
  readonly approximations: readonly string[];
  readonly solver: { readonly questions: number };
}

/**
 * scope is a rule that matches at least every request the claim's (positive)
 * conditions describe: rules that cannot overlap it cannot decide them. It is
 * a deny as far as mayOverlap is concerned: a claim's glob reads an argument
 * whatever its length, as only a deny rule's pattern does past MATCH_LIMIT.
 */
function scope(claim: Claim): PolicyRule {
  const rule: { -readonly [K in keyof PolicyRule]: PolicyRule[K] } = { id: 'claim', effect: 'deny' };
  for (const { not, atom } of claim.conditions) {
    if (not) continue;
    if (atom.k === 'syscall') rule.syscalls = [...atom.names];
    else if (atom.k === 'access') rule.access = [...atom.values];
    else if (atom.k === 'lineage') rule.lineage = [atom.child ? 'child' : 'root'];
    else if (atom.k === 'text' && atom.op !== 'contains') {
      const globs = [atom.op === '=' ? escapeGlob(atom.value) : atom.value];
      if (atom.field === 'agent') rule.agents = globs;
      else if (atom.field === 'tool') rule.tools = globs;
      else rule.paths = globs;
    } else if (atom.k === 'label' && atom.op !== 'contains') rule.labels = { ...rule.labels, [atom.key]: atom.op === '=' ? escapeGlob(atom.value) : atom.value };
    else if (atom.k === 'arg') rule.args = [...(rule.args ?? []), atom.op === '=' ? { arg: atom.name, equals: atom.value } : atom.op === '~' ? { arg: atom.name, glob: atom.value } : { arg: atom.name, contains: atom.value }];
  }
  return rule;
}

export async function proveClaim(policy: LoadedPolicy, claim: Claim, solver: Solver): Promise<ProofReport> {
  const approximations = new Map<string, string>();
  const unanswered: { slice: string; why: string }[] = [];
  const wanted = claim.effects.map((e) => EFFECTS.indexOf(e));
  const within = scope(claim);
  const breaks = (effect: string) => (claim.quantifier === 'always' ? !claim.effects.includes(effect as never) : claim.effects.includes(effect as never));
  const report = (verdict: ProofReport['verdict'], counterexample?: ProofReport['counterexample']): ProofReport => ({
    policy: { file: policy.file, version: policy.version },
    claim: claim.text,
    verdict,
    ...(counterexample !== undefined ? { counterexample } : {}),
    unanswered,
    approximations: [...approximations].map(([subject, why]) => `${subject}: ${why}`),
    solver: { questions: solver.questions },
  });
  for (const slice of slicesOf([policy.document])) {
    const rules = rulesIn(policy.document, slice).filter((r) => mayOverlap(r.rule, within));
    const answer = await ask(
      solver,
      (m) => {
        const d = m.decision('p', rules, policy.document.defaults?.escalate_risk, (r: RuleAt) => `rules[${r.order}] (${r.rule.id})`);
        const isWanted = or(wanted.map((e) => `(= ${d.effect} ${e})`));
        return `${d.defs}\n(assert ${and([slice.constraint, conditionFormula(claim, m), claim.quantifier === 'always' ? `(not ${isWanted})` : isWanted])})`;
      },
      (w) => holds(claim, w) && breaks(decideWitness(policy, w).effect),
      approximations,
    );
    if (answer.status === 'witness') {
      const d = decideWitness(policy, answer.witness);
      return report('counterexample', { slice: slice.label, witness: answer.witness, decision: { effect: d.effect, rule: d.rule, reason: d.reason } });
    }
    if (answer.status === 'unknown') unanswered.push({ slice: slice.label, why: answer.why });
  }
  return report(unanswered.length === 0 ? 'proved' : 'unknown');
}
