/**
 * `agentctl policy analyze|diff|prove`: policy analysis with the z3 solver
 * (kernel/policy/analysis). Every witness printed was decided by the real
 * engine. Exit status: analyze 0 (nothing dead or shadowed) or 1; diff 0
 * (the same decisions) or 1; prove 0 (proved), 1 (counterexample) or 3
 * (unknown: the solver gave up somewhere); 2 for input that cannot be
 * used (one line naming it).
 */
import { analyzePolicy, type AnalysisReport, type Conflict } from '../../kernel/policy/analysis/analyze.ts';
import { ClaimError, parseClaim } from '../../kernel/policy/analysis/claim.ts';
import { diffPolicies, type DiffReport } from '../../kernel/policy/analysis/diff.ts';
import { proveClaim, type ProofReport } from '../../kernel/policy/analysis/prove.ts';
import { Solver, SolverError } from '../../kernel/policy/analysis/smt.ts';
import type { Witness } from '../../kernel/policy/analysis/witness.ts';
import { readPolicy } from './policy-file.ts';
import { wholeNumber } from './whole-number.ts';

function fail(message: string): number {
  process.stderr.write(`agentctl: ${message}\n`);
  return 2;
}


const out = (line = '') => process.stdout.write(`${line}\n`);
const count = (n: number, one: string, many = `${one}s`) => `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** A text longer than this is shown by its start and length (--json gives it whole). */
const SHOWN_CHARS = 80;
const brief = (_key: string, value: unknown): unknown => (typeof value === 'string' && value.length > SHOWN_CHARS ? `${value.slice(0, 40)}… (${value.length} characters)` : value);

/** shown is a witness as one line: the request (long texts cut short), when it is asked, and the agent's counts that matter. */
function shown(w: Witness): string {
  return `${JSON.stringify(w.request, brief)} at ${w.at}${w.counts !== undefined ? ` with the agent's counts ${JSON.stringify(w.counts)}` : ''}`;
}

/** The kernel's checks outside the policy document: the analysis does not see them. */
const OUTSIDE = 'Not analysed (decided by the kernel, not the policy document): capabilities held, circuit breakers, autonomy levels, the step budget of matching (kernel.match-cost), and intent contracts; each can only make a decision stricter (a deny, or a question).';

function footnotes(approximations: readonly string[], contracts: boolean): void {
  out();
  if (approximations.length === 0) out('Every rule is modelled exactly.');
  else {
    out('Over-approximated (what is proved holds; a witness stands only once the engine confirms it):');
    for (const a of approximations) out(`  ${a}`);
  }
  out(OUTSIDE + (contracts ? ' This policy has contracts.' : ''));
}

async function withSolver<T>(run: (solver: Solver) => Promise<T>): Promise<T | string> {
  let solver: Solver;
  try {
    solver = await Solver.open();
  } catch (err) {
    return `the z3 solver could not start: ${err instanceof Error ? err.message : String(err)}`;
  }
  try {
    return await run(solver);
  } catch (err) {
    if (err instanceof SolverError) return err.message;
    if (err instanceof ClaimError) return `claim: ${err.message}`;
    throw err;
  }
}

function byDeny(conflicts: readonly Conflict[]): Map<string, Conflict[]> {
  const groups = new Map<string, Conflict[]>();
  for (const c of conflicts) {
    const list = groups.get(c.deny.id);
    if (list === undefined) groups.set(c.deny.id, [c]);
    else list.push(c);
  }
  return groups;
}

function printAnalysis(r: AnalysisReport, ms: number, show: number, contracts: boolean): void {
  out(`policy ${r.policy.file} (${count(r.policy.rules, 'rule')}, ${r.policy.version}): ${count(r.dead.length, 'dead rule')}, ${count(r.shadowed.length, 'shadowed rule')}, ${count(r.conflicts.length, 'conflicting pair')} (${count(r.solver.questions, 'solver question')}, ${seconds(ms)})`);
  if (r.dead.length > 0) {
    out('\ndead rules (no request can match them):');
    for (const d of r.dead.slice(0, show)) out(`  rules[${d.index}] ${d.id} (${d.effect})`);
  }
  if (r.shadowed.length > 0) {
    out('\nshadowed rules (they match, but another rule always decides first):');
    for (const s of r.shadowed.slice(0, show)) {
      const e = s.example;
      out(`  rules[${s.rule.index}] ${s.rule.id} (${s.rule.effect}): ${s.by.join(', ')}${e !== undefined ? ` (${e.decision.effect})` : ''} decides instead${e !== undefined && e.decision.effect === s.rule.effect ? ' with the same effect: redundant' : ''}`);
      if (e !== undefined) out(`      e.g. ${shown(e.witness)}`);
    }
  }
  if (r.conflicts.length > 0) {
    const groups = [...byDeny(r.conflicts)].toSorted((a, b) => b[1].length - a[1].length || a[0].localeCompare(b[0]));
    out(`\nconflicts (a deny rule and an allow or require_approval rule both match some request; the deny wins there), by deny rule${groups.length > show ? ` (first ${show} of ${groups.length})` : ''}:`);
    for (const [deny, list] of groups.slice(0, show)) {
      const names = list.map((c) => c.rule.id);
      out(`  ${deny} overlaps ${count(list.length, 'rule')}: ${names.slice(0, 5).join(', ')}${names.length > 5 ? ', …' : ''}`);
      out(`      e.g. with ${list[0]!.rule.id}: ${shown(list[0]!.witness)}`);
    }
  }
  if (r.unanswered.length > 0) {
    out(`\nunanswered (${count(r.unanswered.length, 'question')}: nothing is claimed about them):`);
    for (const u of r.unanswered.slice(0, show)) out(`  rules[${u.rule.index}] ${u.rule.id}: ${u.question} ${u.why}`);
  }
  footnotes(r.approximations, contracts);
}

export async function policyAnalyze(file: string, options: { json?: boolean; show?: string }): Promise<number> {
  const show = options.show === undefined ? 20 : (wholeNumber(options.show) ?? -1);
  if (show < 0) return fail(`--show takes a count, not '${options.show}'`);
  const policy = readPolicy(file);
  if (typeof policy === 'string') return fail(policy);
  const started = performance.now();
  const report = await withSolver((solver) => analyzePolicy(policy, solver));
  if (typeof report === 'string') return fail(report);
  const ms = performance.now() - started;
  if (options.json) out(JSON.stringify({ ...report, ms: Math.round(ms) }));
  else printAnalysis(report, ms, show, (policy.document.contracts ?? []).length > 0);
  // As diff and prove: a question left unanswered is no pass (an attacker pass: a CI gate passed a policy it had not analysed).
  if (report.dead.length > 0 || report.shadowed.length > 0) return 1;
  return report.unanswered.length > 0 ? 3 : 0;
}

function printDiff(r: DiffReport, ms: number, show: number): void {
  out(`policy diff ${r.from.file} (${r.from.version}) → ${r.to.file} (${r.to.version})`);
  out(`  ${count(r.classes.length, 'class', 'classes')} of requests decided differently${r.truncated ? ' (the first found: there may be more)' : ''}; ${count(r.slices.compared, 'slice')} compared, ${r.slices.same} the same in both (${count(r.solver.questions, 'solver question')}, ${seconds(ms)})`);
  for (const c of r.classes.slice(0, show)) {
    out(`  ${c.direction.padEnd(26)} ${c.slice}: ${c.before.rule} → ${c.after.rule}`);
    out(`      e.g. ${shown(c.witness)}`);
  }
  if (r.classes.length > show) out(`  … ${r.classes.length - show} more (--show N, --json)`);
  for (const u of r.unanswered) out(`  unanswered in ${u.slice}: ${u.why}`);
  footnotes(r.approximations, false);
}

export async function policyDiff(fileA: string, fileB: string, options: { json?: boolean; show?: string; max?: string }): Promise<number> {
  const show = options.show === undefined ? 20 : (wholeNumber(options.show) ?? -1);
  if (show < 0) return fail(`--show takes a count, not '${options.show}'`);
  const max = options.max === undefined ? 50 : (wholeNumber(options.max) ?? 0);
  if (max < 1) return fail(`--max takes a count of at least 1, not '${options.max}'`);
  const a = readPolicy(fileA);
  if (typeof a === 'string') return fail(a);
  const b = readPolicy(fileB);
  if (typeof b === 'string') return fail(b);
  const started = performance.now();
  const report = await withSolver((solver) => diffPolicies(a, b, solver, max));
  if (typeof report === 'string') return fail(report);
  const ms = performance.now() - started;
  if (options.json) out(JSON.stringify({ ...report, ms: Math.round(ms) }));
  else printDiff(report, ms, show);
  if (report.classes.length > 0) return 1;
  return report.unanswered.length > 0 ? 3 : 0;
}

function printProof(r: ProofReport, ms: number, contracts: boolean): void {
  out(`${r.verdict}: ${r.claim}`);
  out(`  policy ${r.policy.file} (${r.policy.version}); ${count(r.solver.questions, 'solver question')}, ${seconds(ms)}`);
  const c = r.counterexample;
  if (c !== undefined) {
    out(`  counterexample (${c.slice}): ${shown(c.witness)}`);
    out(`  the engine decides: ${c.decision.effect} by ${c.decision.rule} (${c.decision.reason})`);
  }
  for (const u of r.unanswered) out(`  unanswered in ${u.slice}: ${u.why}`);
  footnotes(r.approximations, contracts);
}

export async function policyProve(file: string, claimText: string, options: { json?: boolean }): Promise<number> {
  let claim;
  try {
    claim = parseClaim(claimText);
  } catch (err) {
    if (err instanceof ClaimError) return fail(`claim: ${err.message}`);
    throw err;
  }
  const policy = readPolicy(file);
  if (typeof policy === 'string') return fail(policy);
  const started = performance.now();
  const report = await withSolver((solver) => proveClaim(policy, claim, solver));
  if (typeof report === 'string') return fail(report);
  const ms = performance.now() - started;
  if (options.json) out(JSON.stringify({ ...report, ms: Math.round(ms) }));
  else printProof(report, ms, (policy.document.contracts ?? []).length > 0);
  return report.verdict === 'proved' ? 0 : report.verdict === 'counterexample' ? 1 : 3;
}
