/**
 * diffPolicies lists the classes of requests two policies decide
 * differently: a class is a pair (the rule deciding under A, the rule
 * deciding under B) whose effects differ, each with a witness both engines
 * decided. Slices whose candidate rules are the same in both (same rules,
 * same order) cannot differ and are skipped; in the others the solver is
 * asked for a request decided differently, that class is ruled out, and it
 * is asked again, until none is left (or `max` classes are found).
 */
import type { LoadedPolicy } from '../load.ts';
import type { PolicyDecision } from '../request.ts';
import { ask } from './ask.ts';
import { RISK_RULE } from '../engine.ts';
import type { PolicyRule } from '../schema.ts';
import { mayOverlap } from './analyze.ts';
import { and, DEFAULT_DENY, FLOW_DENY, or, USED_UP, type RuleAt } from './model.ts';
import { merged, sampleOf, type Sample } from './sample.ts';
import { rulesIn, slicesOf, toolNamed, type Slice } from './slices.ts';
import type { Solver } from './smt.ts';
import { decideWitness, type Witness } from './witness.ts';

export interface DiffClass {
  /** The slice of requests it was found in. */
  readonly slice: string;
  readonly direction: string;
  readonly before: { readonly effect: string; readonly rule: string };
  readonly after: { readonly effect: string; readonly rule: string };
  readonly witness: Witness;
}

export interface DiffReport {
  readonly from: { readonly file: string; readonly version: string };
  readonly to: { readonly file: string; readonly version: string };
  readonly classes: readonly DiffClass[];
  /** Slices where the solver could not answer (or only with witnesses the engine refuted). */
  readonly unanswered: readonly { readonly slice: string; readonly why: string }[];
  /** True when `max` classes were found: there may be more. */
  readonly truncated: boolean;
  readonly slices: { readonly compared: number; readonly same: number };
  readonly approximations: readonly string[];
  readonly solver: { readonly questions: number };
}

const brief = (d: PolicyDecision) => ({ effect: d.effect, rule: d.rule });

/** key is a rule as it is written (its id and every field): rules both policies keep have the same key. */
const key = (r: RuleAt): string => JSON.stringify(r.rule);

/**
 * changedIn narrows a slice's question to where the policies can differ: a
 * request no changed rule (one in only one of the two, as it is written)
 * matches is matched by the same rules in the same order under both, so it
 * is decided alike; and where a changed rule matches, a rule that cannot
 * overlap any changed rule does not. Undefined (ask about the whole slice)
 * when the rules both keep are in another order, or risk escalation changed.
 */
function changedIn(ra: readonly RuleAt[], rb: readonly RuleAt[], sameDefaults: boolean): { changed: PolicyRule[]; a: RuleAt[]; b: RuleAt[] } | undefined {
  if (!sameDefaults) return undefined;
  const inA = new Set(ra.map(key));
  const inB = new Set(rb.map(key));
  const keptA = ra.filter((r) => inB.has(key(r))).map(key);
  const keptB = rb.filter((r) => inA.has(key(r))).map(key);
  if (keptA.join('\n') !== keptB.join('\n')) return undefined;
  const changed = [...ra.filter((r) => !inB.has(key(r))), ...rb.filter((r) => !inA.has(key(r)))].map((r) => r.rule);
  const near = (r: RuleAt) => changed.some((c) => c === r.rule || mayOverlap(r.rule, c));
  return { changed, a: ra.filter(near), b: rb.filter(near) };
}

/** candidates are requests of the slice built from the changed rules, alone and merged with each rule near them. */
function* candidates(changed: readonly PolicyRule[], near: readonly PolicyRule[], slice: Slice): Generator<Witness> {
  // A sample asks with its rule's first syscall: here it asks with the slice's.
  const retarget = (w: Witness): Witness => (slice.syscall === undefined || w.request.syscall === slice.syscall ? w : { ...w, request: { ...w.request, syscall: slice.syscall } });
  const inSlice = (w: Witness) => (slice.syscall === undefined || w.request.syscall === slice.syscall) && (slice.tool === undefined || (slice.tool === null ? w.request.tool === undefined || !toolNamed(slice, w.request.tool) : w.request.tool === slice.tool));
  const samples = new Map<PolicyRule, Sample | undefined>();
  const sample = (r: PolicyRule) => {
    if (!samples.has(r)) samples.set(r, sampleOf(r));
    return samples.get(r);
  };
  for (const c of changed) {
    const sc = sample(c);
    if (sc === undefined) continue;
    const own = retarget(sc.witness);
    if (inSlice(own)) yield own;
    for (const r of near) {
      if (r === c) continue;
      const sr = sample(r);
      if (sr === undefined) continue;
      for (const w of [merged(sc, sr), merged(sr, sc)].map(retarget)) if (inSlice(w)) yield w;
    }
  }
}

/** codeOf is the model's code (model.ts) for an engine's decision: its rule's index, USED_UP more for a used-up limit, or the kernel's two. */
export function codeOf(policy: LoadedPolicy, d: PolicyDecision): number {
  if (d.rule === 'default-deny') return DEFAULT_DENY;
  if (d.rule.startsWith('flow:')) return FLOW_DENY;
  const id = d.rule === RISK_RULE ? /^rule (\S+) allows/.exec(d.reason)?.[1] : d.rule;
  const index = policy.document.rules.findIndex((r) => r.id === id);
  return d.rule !== RISK_RULE && d.reason.startsWith('limit:') ? USED_UP + index : index;
}

/** where names a rule of policy A or B in approximations. */
const where =
  (tag: string) =>
  (r: RuleAt): string =>
    `${tag}.rules[${r.order}] (${r.rule.id})`;

export async function diffPolicies(a: LoadedPolicy, b: LoadedPolicy, solver: Solver, max = 50): Promise<DiffReport> {
  const approximations = new Map<string, string>();
  const classes: DiffClass[] = [];
  const unanswered: { slice: string; why: string }[] = [];
  let same = 0;
  let compared = 0;
  const escalateA = a.document.defaults?.escalate_risk;
  const escalateB = b.document.defaults?.escalate_risk;
  let truncated = false;
  for (const slice of slicesOf([a.document, b.document])) {
    const ra = rulesIn(a.document, slice);
    const rb = rulesIn(b.document, slice);
    if (escalateA === escalateB && JSON.stringify(ra.map((r) => r.rule)) === JSON.stringify(rb.map((r) => r.rule))) {
      same++;
      continue;
    }
    compared++;
    const focus = changedIn(ra, rb, escalateA === escalateB);
    const blocked: string[] = [];
    // Requests built from the changed rules (alone, and with each rule near them) find most classes without the
    // solver; it is then asked only whether any other is left, which it answers far sooner than it finds one.
    for (const w of candidates(focus?.changed ?? [...ra, ...rb].map((r) => r.rule), [...(focus?.a ?? ra), ...(focus?.b ?? rb)].map((r) => r.rule), slice)) {
      if (classes.length >= max) break;
      const before = decideWitness(a, w);
      const after = decideWitness(b, w);
      if (before.effect === after.effect) continue;
      const block = `(not (and (= a_code ${codeOf(a, before)}) (= b_code ${codeOf(b, after)})))`;
      if (blocked.includes(block)) continue;
      blocked.push(block);
      if (!classes.some((c) => c.before.rule === before.rule && c.after.rule === after.rule)) classes.push({ slice: slice.label, direction: `${before.effect}→${after.effect}`, before: brief(before), after: brief(after), witness: w });
    }
    for (;;) {
      if (classes.length >= max) {
        truncated = true;
        break;
      }
      // The engines decide differently, each by the rule the model said (so a tidied witness stays in its class).
      const differ = (w: Witness, values: ReadonlyMap<string, string | number | boolean>) => {
        const da = decideWitness(a, w);
        const db = decideWitness(b, w);
        return da.effect !== db.effect && codeOf(a, da) === values.get('a_code') && codeOf(b, db) === values.get('b_code');
      };
      const answer = await ask(
        solver,
        (m) => {
          const da = m.decision('a', focus?.a ?? ra, escalateA, where('A'));
          const db = m.decision('b', focus?.b ?? rb, escalateB, where('B'));
          const changed = focus === undefined ? [] : [or(focus.changed.map((r) => m.match(r, `changed rule ${r.id}`)))];
          return `${da.defs}\n${db.defs}\n(assert ${and([slice.constraint, ...changed, `(not (= ${da.effect} ${db.effect}))`, ...blocked])})`;
        },
        differ,
        approximations,
        ['a_code', 'b_code'],
      );
      if (answer.status === 'none') break;
      if (answer.status === 'unknown') {
        unanswered.push({ slice: slice.label, why: answer.why });
        break;
      }
      const w = answer.witness;
      const before = decideWitness(a, w);
      const after = decideWitness(b, w);
      // Tidying a witness may move it into a class already found: it is ruled out all the same, and listed once.
      if (!classes.some((c) => c.before.rule === before.rule && c.after.rule === after.rule)) classes.push({ slice: slice.label, direction: `${before.effect}→${after.effect}`, before: brief(before), after: brief(after), witness: w });
      blocked.push(`(not (and (= a_code ${Number(answer.values.get('a_code'))}) (= b_code ${Number(answer.values.get('b_code'))})))`);
    }
    if (truncated) break;
  }
  return {
    from: { file: a.file, version: a.version },
    to: { file: b.file, version: b.version },
    classes,
    unanswered,
    truncated,
    slices: { compared, same },
    approximations: [...approximations].map(([subject, why]) => `${subject}: ${why}`),
    solver: { questions: solver.questions },
  };
}
