/**
 * How the policy engine's cost grows with the policy (issue 13): the
 * benchmark generator (bench/policy-set.ts) at 1,000, 10,000 and 100,000
 * rules — s times the teams, agents, data sets and hosts, as an
 * organisation s times larger would write them — each decided on requests
 * about its own universe. Each round times a window of each size back to
 * back (after a warm-up pass that compiles the per-agent globs), and the
 * ratios are medians of the per-round ratios. A decision visits only rules
 * that can match (the rule index), so it may not cost more than 2× the
 * 1,000-rule figure. Load time: parsePolicy of the policy as a program
 * writes it (JSON), median of three loads; the same 10,000 rules through
 * the YAML path once, for comparison.
 */
import { PolicyEngine } from '../kernel/policy/engine.ts';
import { parsePolicy } from '../kernel/policy/load.ts';
import type { PolicyRequest } from '../abi/policy-request.ts';
import { pdlDocument, policyRequest, requestSpecs, ruleSpecs } from './policy-set.ts';
import { type BenchOptions, type Figure, median, spread } from './stats.ts';

const SCALES = [1, 10, 100] as const;
const REQUESTS = 1024;
const WINDOW = 96;
const ROUND_MS = 150;
const LOADS = 3;

const elapsedMs = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;

function timeWindow(engine: PolicyEngine, window: readonly PolicyRequest[], ms = ROUND_MS): number {
  let n = 0;
  const t0 = process.hrtime.bigint();
  do {
    for (const r of window) engine.decide(r);
    n += window.length;
  } while (elapsedMs(t0) < ms);
  return (elapsedMs(t0) * 1e6) / n;
}

interface Sized {
  readonly rules: number;
  readonly engine: PolicyEngine;
  readonly requests: readonly PolicyRequest[];
  readonly loadMs: number[];
  readonly bytes: number;
}

function build(scale: number): Sized {
  const text = JSON.stringify(pdlDocument(ruleSpecs(1, scale)));
  const loadMs: number[] = [];
  let engine: PolicyEngine | undefined;
  for (let i = 0; i < LOADS; i++) {
    const t0 = process.hrtime.bigint();
    const policy = parsePolicy(text, `bench-${scale * 1000}-rules.json`);
    loadMs.push(elapsedMs(t0));
    engine = new PolicyEngine(policy);
  }
  const requests = requestSpecs(REQUESTS, 2, scale).map(policyRequest);
  return { rules: scale * 1000, engine: engine!, requests, loadMs, bytes: text.length };
}

export const POLICY_SCALE_KEYS = [
  'policy_eval_10000_rules_ns',
  'policy_eval_100000_rules_ns',
  'policy_eval_10000_over_1000',
  'policy_eval_100000_over_1000',
  'policy_load_1000_rules_ms',
  'policy_load_10000_rules_ms',
  'policy_load_100000_rules_ms',
];

export async function measurePolicyScale({ rounds, log }: BenchOptions): Promise<Figure[]> {
  const sized = SCALES.map((scale) => {
    const s = build(scale);
    log(`policy scale: ${s.rules} rules (${(s.bytes / 1e6).toFixed(1)} MB of JSON) load median ${median(s.loadMs).toFixed(0)} ms`);
    return s;
  });
  const yamlText = JSON.stringify(pdlDocument(ruleSpecs(1, 10)), null, 1);
  const yamlT0 = process.hrtime.bigint();
  parsePolicy(yamlText, 'bench-10000-rules.yaml');
  const yamlMs = elapsedMs(yamlT0);
  for (const s of sized) for (const r of s.requests) s.engine.check(r); // warm-up: JIT, per-agent globs, index cache
  const ns = sized.map(() => [] as number[]);
  const ratios = sized.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    const from = (r * WINDOW) % (REQUESTS - WINDOW);
    const times = sized.map((s) => timeWindow(s.engine, s.requests.slice(from, from + WINDOW)));
    times.forEach((t, i) => {
      ns[i]!.push(t);
      ratios[i]!.push(t / times[0]!);
    });
    log(`policy scale round ${r + 1}/${rounds}: ${times.map((t, i) => `${sized[i]!.rules} rules ${t.toFixed(0)} ns`).join(', ')}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
  const windows = `windows of ${WINDOW} requests about each policy's own universe, ${rounds} rounds`;
  const load = (i: number): Figure => ({
    key: `policy_load_${sized[i]!.rules}_rules_ms`,
    value: median(sized[i]!.loadMs),
    unit: 'ms',
    note: `parse, validate and compile ${(sized[i]!.bytes / 1e6).toFixed(1)} MB of JSON (as a program writes it), ${spread(sized[i]!.loadMs)}${i === 1 ? `; the same rules as indented JSON through the YAML path: ${yamlMs.toFixed(0)} ms` : ''}`,
  });
  return [
    { key: 'policy_eval_10000_rules_ns', value: median(ns[1]!), unit: 'ns', note: `${spread(ns[1]!)} over ${windows}; 1,000 rules in the same rounds: ${median(ns[0]!).toFixed(0)} ns` },
    { key: 'policy_eval_100000_rules_ns', value: median(ns[2]!), unit: 'ns', note: `${spread(ns[2]!)} over ${windows}` },
    { key: 'policy_eval_10000_over_1000', value: median(ratios[1]!), unit: 'x', target: { op: '<=', bound: 2 }, note: `median of per-round ratios, ${spread(ratios[1]!, 2)}` },
    { key: 'policy_eval_100000_over_1000', value: median(ratios[2]!), unit: 'x', target: { op: '<=', bound: 2 }, note: `median of per-round ratios, ${spread(ratios[2]!, 2)}` },
    load(0),
    load(1),
    load(2),
  ];
}
