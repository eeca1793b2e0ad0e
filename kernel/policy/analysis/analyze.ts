/**
 * analyzePolicy finds, with the solver and the engine together:
 *   dead rules: no request can match them;
 *   shadowed rules: they match, but another rule always decides first;
 *   conflicts: an allow or require_approval rule and a deny rule that both
 *     match some request (the deny wins there), each with a witness.
 * Each rule is first tried on a request built from its own fields (the
 * engine confirms it matches, or decides it); the solver is asked only
 * about what that does not settle, one slice of the requests at a time.
 * Every witness reported was decided by the engine.
 */
import { RISK_RULE } from '../engine.ts';
import type { LoadedPolicy } from '../load.ts';
import type { PolicyDecision } from '../request.ts';
import type { PolicyRule } from '../schema.ts';
import { anchoredPrefix, literalHead, MATCH_LIMIT } from '../matchers.ts';
import { AGENT_PLACEHOLDER } from '../placeholders.ts';
import { isPathGlob, pathSpelling } from '../path-spelling.ts';
import { isLiteral } from '../glob.ts';
import { ask } from './ask.ts';
import { and, RequestModel, USED_UP, type RuleAt } from './model.ts';
import { merged, sampleOf, type Sample } from './sample.ts';
import { rulesIn, slicesOf } from './slices.ts';
import type { Solver } from './smt.ts';
import { decideWitness, matchesRule, type Witness } from './witness.ts';

export interface RuleRef {
  readonly id: string;
  /** Its index in the document's rules. */
  readonly index: number;
  readonly effect: PolicyRule['effect'];
}

export interface Shadowed {
  readonly rule: RuleRef;
  /** Rules that decide instead where it matches (the first few found). */
  readonly by: readonly string[];
  /** A request it matches, and what the engine decides there. */
  readonly example?: { readonly witness: Witness; readonly decision: { readonly effect: string; readonly rule: string } };
}

export interface Conflict {
  readonly deny: RuleRef;
  readonly rule: RuleRef;
  readonly witness: Witness;
}

export interface Unanswered {
  readonly rule: RuleRef;
  readonly question: string;
  readonly why: string;
}

export interface AnalysisReport {
  readonly policy: { readonly file: string; readonly version: string; readonly rules: number };
  readonly dead: readonly RuleRef[];
  readonly shadowed: readonly Shadowed[];
  readonly conflicts: readonly Conflict[];
  readonly unanswered: readonly Unanswered[];
  /** Where the model admits more than the engine (what it cannot write exactly): proofs hold, witnesses are confirmed by the engine. */
  readonly approximations: readonly string[];
  readonly solver: { readonly questions: number };
}

/** decidedBy: the engine's decision is the rule's own (an allow escalated by defaults.escalate_risk included). */
export function decidedBy(decision: PolicyDecision, id: string): boolean {
  return decision.rule === id || (decision.rule === RISK_RULE && decision.reason.startsWith(`rule ${id} allows`));
}

const ref = (policy: LoadedPolicy, index: number): RuleRef => ({ id: policy.document.rules[index]!.id, index, effect: policy.document.rules[index]!.effect });

/** head is the literal text every path (or value) a glob matches starts with; `${agent}` ends it. */
const head = (glob: string): string => literalHead(glob.split(AGENT_PLACEHOLDER)[0]!);
const compatible = (a: string, b: string): boolean => a.startsWith(b) || b.startsWith(a);
/**
 * pathsMeet: two path globs may match one path. Their literal heads must
 * agree; when both start with the same literal text and then `${agent}`
 * (the same id in one request), so must the literal text after it.
 */
function pathsMeet(x: string, y: string): boolean {
  const [xPre, ...xRest] = x.split(AGENT_PLACEHOLDER);
  const [yPre, ...yRest] = y.split(AGENT_PLACEHOLDER);
  if (xRest.length > 0 && yRest.length > 0 && xPre === yPre && isLiteral(xPre!)) return compatible(head(xRest.join(AGENT_PLACEHOLDER)), head(yRest.join(AGENT_PLACEHOLDER)));
  return compatible(head(x), head(y));
}
type ArgPattern = NonNullable<PolicyRule['args']>[number];

/**
 * canonicalOnly: every value `other` matches is a canonical path or not a
 * path (an equals of such a text, or a path glob of a rule that is not a
 * deny: path-spelling.ts).
 */
function canonicalOnly(other: ArgPattern, otherRule: PolicyRule): boolean {
  if (other.equals !== undefined) return pathSpelling(other.equals) === undefined;
  return otherRule.effect !== 'deny' && other.glob !== undefined && isPathGlob(other.glob);
}

/**
 * start is the literal text every value an argument pattern matches starts
 * with: an equals' whole value, a glob's head, an anchored regex's head. A
 * deny rule's regex also matches any value past MATCH_LIMIT (the engine
 * does not read it), so then nothing, unless the other rule's pattern on the
 * same argument rules such a value out (an equals of a short text, or a glob
 * or regex of a rule that is not a deny: past the limit they match nothing).
 * A deny rule's path glob also matches any path not in canonical form, so
 * then only '/', unless the other pattern matches canonical paths only.
 */
function start(x: ArgPattern, rule: PolicyRule, other: ArgPattern, otherRule: PolicyRule): string {
  if (x.equals !== undefined) return x.equals;
  if (x.glob !== undefined) return rule.effect === 'deny' && isPathGlob(x.glob) && !canonicalOnly(other, otherRule) ? '/' : head(x.glob);
  if (x.regex === undefined) return '';
  const short = (other.equals !== undefined && other.equals.length <= MATCH_LIMIT) || (otherRule.effect !== 'deny' && (other.glob !== undefined || other.regex !== undefined));
  return rule.effect !== 'deny' || short ? anchoredPrefix(x.regex) : '';
}

/** named: the syscalls a rule names, or undefined when it matches any. */
const named = (r: PolicyRule): readonly string[] | undefined => (r.syscalls === undefined || r.syscalls.includes('*') ? undefined : r.syscalls);
/** literal: a list of globs that are all literals, or undefined. */
const literal = (list: readonly string[] | undefined): readonly string[] | undefined => (list !== undefined && list.every(isLiteral) ? list : undefined);
const intersects = <T>(a: readonly T[] | undefined, b: readonly T[] | undefined): boolean => a === undefined || b === undefined || a.some((x) => b.includes(x));

/**
 * mayOverlap rules out, without the solver, pairs of rules that no request
 * can match together: disjoint syscalls, access, lineage, literal tools or
 * agents, different literal labels, or path and argument patterns whose
 * literal heads part.
 */
export function mayOverlap(a: PolicyRule, b: PolicyRule): boolean {
  if (!intersects(named(a), named(b)) || !intersects(a.access, b.access) || !intersects(a.lineage, b.lineage)) return false;
  if (!intersects(literal(a.tools), literal(b.tools)) || !intersects(literal(a.agents), literal(b.agents))) return false;
  for (const [key, glob] of Object.entries(a.labels ?? {})) {
    const other = b.labels?.[key];
    if (other !== undefined && isLiteral(glob) && isLiteral(other) && glob !== other) return false;
    if (other !== undefined && !compatible(head(glob), head(other))) return false;
  }
  if (a.paths !== undefined && b.paths !== undefined && !a.paths.some((x) => b.paths!.some((y) => pathsMeet(x, y)))) return false;
  for (const p of a.args ?? []) {
    for (const q of b.args ?? []) {
      if (p.arg !== q.arg) continue;
      if (p.equals !== undefined && q.equals !== undefined && p.equals !== q.equals) return false;
      if (!compatible(start(p, a, q, b), start(q, b, p, a))) return false;
    }
  }
  return true;
}

export async function analyzePolicy(policy: LoadedPolicy, solver: Solver): Promise<AnalysisReport> {
  const rules = policy.document.rules;
  const approximations = new Map<string, string>();
  const where = (i: number) => `rules[${i}] (${rules[i]!.id})`;
  // What the model cannot write exactly is said whether or not a question comes to need it.
  const whole = new RequestModel();
  rules.forEach((rule, i) => whole.match(rule, where(i)));
  for (const [subject, why] of whole.approximations) approximations.set(subject, why);
  const samples: (Sample | undefined)[] = rules.map((r, i) => {
    const s = sampleOf(r);
    return s !== undefined && matchesRule(policy, i, s.witness) ? s : undefined;
  });
  const live: (Witness | undefined)[] = samples.map((s) => s?.witness);
  const decides: boolean[] = rules.map((r, i) => live[i] !== undefined && decidedBy(decideWitness(policy, live[i]!), r.id));
  const dead: RuleRef[] = [];
  const unanswered: Unanswered[] = [];
  // Dead: no request matches.
  for (let i = 0; i < rules.length; i++) {
    if (live[i] !== undefined) continue;
    const a = await ask(solver, (m) => `(assert ${m.match(rules[i]!, where(i))})`, (w) => matchesRule(policy, i, w), approximations);
    if (a.status === 'witness') live[i] = a.witness;
    else if (a.status === 'none') dead.push(ref(policy, i));
    else unanswered.push({ rule: ref(policy, i), question: 'can any request match it? (so neither its shadowing nor its conflicts were checked)', why: a.why });
  }
  // Shadowed: it matches, but never decides.
  const slices = slicesOf([policy.document]);
  const shadowed: Shadowed[] = [];
  for (let i = 0; i < rules.length; i++) {
    if (decides[i] || live[i] === undefined) continue;
    const rule = rules[i]!;
    let answered = true;
    for (const slice of slices) {
      // Where it decides, it matches: only the rules that can match with it there can come first.
      const inSlice = rulesIn(policy.document, slice).filter((r) => r.order === i || mayOverlap(r.rule, rule));
      if (!inSlice.some((r) => r.order === i)) continue;
      const a = await ask(
        solver,
        (m) => {
          const d = m.decision('p', inSlice, policy.document.defaults?.escalate_risk, (r: RuleAt) => where(r.order));
          // It decides with its own effect, or denies as its limit is used up: either way the decision names it.
          return `${d.defs}\n(assert ${and([slice.constraint, `(or (= ${d.code} ${i}) (= ${d.code} ${USED_UP + i}))`])})`;
        },
        (w) => decidedBy(decideWitness(policy, w), rule.id),
        approximations,
      );
      if (a.status === 'witness') {
        decides[i] = true;
        break;
      }
      if (a.status === 'unknown') {
        answered = false;
        unanswered.push({ rule: ref(policy, i), question: `can it decide a request of ${slice.label}?`, why: a.why });
      }
    }
    if (decides[i] || !answered) continue;
    const example = live[i]!;
    const decision = decideWitness(policy, example);
    const by = [decision.rule === RISK_RULE ? `${RISK_RULE} (${decision.reason})` : decision.rule];
    shadowed.push({ rule: ref(policy, i), by, example: { witness: example, decision: { effect: decision.effect, rule: decision.rule } } });
  }
  // Conflicts: an allow or require_approval rule and a deny rule that match one request.
  const conflicts: Conflict[] = [];
  const denies = rules.map((_, i) => i).filter((i) => rules[i]!.effect === 'deny' && live[i] !== undefined);
  const others = rules.map((_, i) => i).filter((i) => rules[i]!.effect !== 'deny' && live[i] !== undefined);
  for (const d of denies) {
    for (const o of others) {
      if (!mayOverlap(rules[d]!, rules[o]!)) continue;
      const both = (w: Witness) => matchesRule(policy, d, w) && matchesRule(policy, o, w);
      let witness: Witness | undefined;
      const sd = samples[d];
      const so = samples[o];
      if (sd !== undefined && so !== undefined) witness = [merged(so, sd), merged(sd, so), merged(so, sd, ''), merged(sd, so, ''), merged(so, sd, ' '), merged(sd, so, ' ')].find(both);
      if (witness === undefined) {
        const a = await ask(solver, (m) => `(assert ${and([m.match(rules[d]!, where(d)), m.match(rules[o]!, where(o))])})`, both, approximations);
        if (a.status === 'witness') witness = a.witness;
        else if (a.status === 'unknown') unanswered.push({ rule: ref(policy, o), question: `does it overlap deny rule ${rules[d]!.id}?`, why: a.why });
      }
      if (witness !== undefined) conflicts.push({ deny: ref(policy, d), rule: ref(policy, o), witness });
    }
  }
  return {
    policy: { file: policy.file, version: policy.version, rules: rules.length },
    dead,
    shadowed,
    conflicts,
    unanswered,
    approximations: [...approximations].map(([subject, why]) => `${subject}: ${why}`),
    solver: { questions: solver.questions },
  };
}
