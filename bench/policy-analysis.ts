/**
 * Policy analysis with z3 (`agentctl policy analyze|diff`, kernel/policy/
 * analysis) on the 1,000-rule benchmark policy: the whole analysis (dead,
 * shadowed and conflicting rules, every witness decided by the engine), and
 * a diff against a candidate that drops, adds and changes a few rules, as an
 * operator's change would. The solver is started once (its start is
 * reported apart); each round asks every question again.
 */
import { analyzePolicy } from '../kernel/policy/analysis/analyze.ts';
import { diffPolicies } from '../kernel/policy/analysis/diff.ts';
import { Solver } from '../kernel/policy/analysis/smt.ts';
import { parsePolicy } from '../kernel/policy/load.ts';
import type { PolicyRule } from '../kernel/policy/schema.ts';
import { pdlDocument, ruleSpecs } from './policy-set.ts';
import { type Bench, type BenchOptions, type Figure, median, spread } from './stats.ts';

/** candidateRules: the benchmark rules with 3 dropped, 3 changed and 2 added. */
function candidateRules(rules: readonly PolicyRule[]): PolicyRule[] {
  const dropped = new Set([rules.find((r) => r.id.startsWith('frozen-'))!.id, rules.find((r) => r.id.startsWith('blocked-'))!.id, rules.find((r) => r.id.startsWith('pay-'))!.id]);
  // One team's memory area becomes read-only.
  const firstWritable = rules.find((r) => r.id.startsWith('own-team-03-') && r.access === undefined)!.id;
  const out = rules
    .filter((r) => !dropped.has(r.id))
    .map((r): PolicyRule => {
      if (r.id === firstWritable) return { ...r, access: ['read'] };
      if (r.id === 'git-010') return { ...r, args: [{ arg: 'cmd', regex: '^git (status|log|push)( |$)' }] };
      if (r.id === 'shared-read-020') return { ...r, paths: ['/shared/data/ds-49/**'] };
      return r;
    });
  return [
    { id: 'candidate-no-ds-07', effect: 'deny', syscalls: ['SYS_OPEN', 'SYS_STAT', 'SYS_READDIR'], labels: { team: 'team-02' }, paths: ['/shared/data/ds-07/**'] },
    { id: 'candidate-ask-api-010', effect: 'require_approval', syscalls: ['SYS_EXEC'], tools: ['http.get'], args: [{ arg: 'url', glob: 'https://api-010.example.com/**' }] },
    ...out,
  ];
}

async function measureAnalysis({ rounds, log }: BenchOptions): Promise<Figure[]> {
  const doc = pdlDocument(ruleSpecs());
  const policy = parsePolicy(JSON.stringify(doc), 'bench-1000.json');
  const candidate = parsePolicy(JSON.stringify({ ...doc, name: 'candidate', rules: candidateRules(doc.rules) }), 'candidate.json');
  const t0 = performance.now();
  const solver = await Solver.open();
  const startMs = performance.now() - t0;
  const analyze: number[] = [];
  const diff: number[] = [];
  let found = { dead: 0, shadowed: 0, conflicts: 0, questions: 0 };
  let classes = { count: 0, questions: 0, compared: 0, same: 0 };
  for (let r = 0; r < rounds; r++) {
    let before = solver.questions;
    let t = performance.now();
    const a = await analyzePolicy(policy, solver);
    analyze.push((performance.now() - t) / 1000);
    found = { dead: a.dead.length, shadowed: a.shadowed.length, conflicts: a.conflicts.length, questions: solver.questions - before };
    before = solver.questions;
    t = performance.now();
    const d = await diffPolicies(policy, candidate, solver, 200);
    diff.push((performance.now() - t) / 1000);
    if (d.truncated || d.classes.length === 0) throw new Error(`policy diff found ${d.classes.length} classes${d.truncated ? ' (truncated)' : ''}`);
    classes = { count: d.classes.length, questions: solver.questions - before, compared: d.slices.compared, same: d.slices.same };
    log(`policy analysis round ${r + 1}/${rounds}: analyze ${analyze.at(-1)!.toFixed(2)} s, diff ${diff.at(-1)!.toFixed(2)} s`);
  }
  return [
    { key: 'policy_analyze_1000_rules_s', value: median(analyze), unit: 's', target: { op: '<=', bound: 10 }, note: `${spread(analyze, 2)}: the 1,000-rule policy, ${found.dead} dead, ${found.shadowed} shadowed, ${found.conflicts} conflicting pairs, each witness decided by the engine; ${found.questions} z3 questions a round (the solver's start, once: ${startMs.toFixed(0)} ms)` },
    { key: 'policy_diff_1000_rules_s', value: median(diff), unit: 's', target: { op: '<=', bound: 20 }, note: `${spread(diff, 2)}: against a candidate with 3 rules dropped, 3 changed and 2 added: ${classes.count} classes of requests decided differently, each witness decided by both engines; ${classes.compared} slices compared, ${classes.same} the same; ${classes.questions} z3 questions a round` },
  ];
}

export const policyAnalysisBench: Bench = {
  name: 'policy-analysis',
  keys: ['policy_analyze_1000_rules_s', 'policy_diff_1000_rules_s'],
  run: measureAnalysis,
};
