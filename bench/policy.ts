/**
 * policy: issue 3's governance figures.
 *  - Decision time of our PolicyEngine with the 1,000-rule benchmark policy
 *    (bench/policy-set.ts), side by side with the same rules in Cedar
 *    (@cedar-policy/cedar-wasm, statefulIsAuthorized on a preparsed policy set)
 *    and in the Agent Governance Toolkit's PolicyEngine (bench/policy-peers.ts),
 *    on the same requests: each round takes a window of the fixed request set,
 *    times all three engines on it back to back, and each ratio is the median
 *    of the per-round ratios.
 *  - An equivalence check: the three engines' decisions (effect and deciding
 *    rule) on every request of the checked sample.
 *  - syscall_getpid with the benchmark policy and the file recorder on, in
 *    process and pinned to one CPU (bench/policy-crossing.ts).
 *  - How decision and load time grow at 10,000 and 100,000 rules (bench/policy-scale.ts).
 *  - Recorder throughput (bench/recorder.ts).
 */
import { Breakers } from '../kernel/breakers.ts';
import { PolicyEngine } from '../kernel/policy/engine.ts';
import { parsePolicy } from '../kernel/policy/load.ts';
import { ShadowPolicy } from '../kernel/policy/shadow.ts';
import { TrustScores } from '../kernel/trust.ts';
import type { PolicyDecision } from '../kernel/policy/request.ts';
import type { PolicyRequest } from '../abi/policy-request.ts';
import { AgtPeer, CedarPeer, type Outcome } from './policy-peers.ts';
import { benchPolicy, GOVERNED_KEYS, GOVERNED_PINNED_KEYS, measureGovernedGetpid, measureGovernedGetpidPinned } from './policy-crossing.ts';
import { pdlDocument, policyRequest, requestSpecs, ruleSpecs, type RequestSpec } from './policy-set.ts';
import { measurePolicyScale, POLICY_SCALE_KEYS } from './policy-scale.ts';
import { measureRecorder } from './recorder.ts';
import { type Bench, type BenchOptions, type Figure, median, spread } from './stats.ts';

/** Requests checked for equivalence; the timed windows are drawn from them. */
const CHECKED = 1024;
/** Requests per round for the peers (a few ms each for both); ours repeats the window for OURS_MS. */
const WINDOW = 96;
const OURS_MS = 200;

const elapsedNs = (t0: bigint): number => Number(process.hrtime.bigint() - t0);

/** agreeing says whether the three engines gave the same effect and deciding rule. */
function agreeing(ours: PolicyDecision, cedar: Outcome, agt: Outcome): boolean {
  if (ours.effect !== cedar.effect || ours.effect !== agt.effect) return false;
  if (ours.rule === 'default-deny') return cedar.rules.length === 0 && agt.rules.length === 0;
  return cedar.rules.includes(ours.rule) && agt.rules[0] === ours.rule;
}

interface Engines {
  readonly ours: PolicyEngine;
  readonly cedar: CedarPeer;
  readonly agt: AgtPeer;
}

/** Prepared is one request in each engine's input form, built before timing. */
interface Prepared {
  readonly spec: RequestSpec;
  readonly ours: PolicyRequest;
  /** The same request with a trust score, which the governed timing sets before each decision. */
  readonly trusted: { -readonly [K in keyof PolicyRequest]: PolicyRequest[K] };
  readonly cedar: ReturnType<CedarPeer['call']>;
  readonly agt: Record<string, unknown>;
}

function checkEquivalence(engines: Engines, requests: readonly Prepared[], log: BenchOptions['log']): { agree: number; mix: string } {
  const mix = new Map<string, number>();
  let agree = 0;
  for (const r of requests) {
    const ours = engines.ours.check(r.ours);
    const cedar = engines.cedar.decide(r.cedar);
    const agt = engines.agt.decide(r.spec.agent, r.agt);
    const kind = ours.rule === 'default-deny' ? 'default-deny' : ours.effect;
    mix.set(kind, (mix.get(kind) ?? 0) + 1);
    if (agreeing(ours, cedar, agt)) agree++;
    else log(`policy: disagreement on ${JSON.stringify(r.spec)}: ours ${ours.effect}/${ours.rule}, cedar ${JSON.stringify(cedar)}, agt ${JSON.stringify(agt)}`);
  }
  return { agree, mix: [...mix].map(([k, v]) => `${v} ${k}`).join(', ') };
}

/**
 * timeGoverned is timeOurs as the kernel decides with trust and circuit
 * breakers on: each decision first reads the agent's trust score and asks
 * its breaker for the tool (or syscall), then the engine decides with the
 * score in the request, under the benchmark policy with a `trust: { below }`
 * rule added and `defaults.breaker` set.
 */
function timeGoverned(engine: PolicyEngine, trust: TrustScores, breakers: Breakers, window: readonly Prepared[], ms = OURS_MS): number {
  let n = 0;
  const t0 = process.hrtime.bigint();
  do {
    for (const r of window) {
      // The kernel builds a request object for every decision either way (toPolicyRequest): here it is built ahead, with the score read now.
      const agentId = r.ours.agentId;
      r.trusted.trust = trust.score(agentId);
      if (breakers.refusal(agentId, r.ours.tool ?? r.ours.syscall) === undefined && engine.precondition(r.trusted) === undefined) engine.decide(r.trusted);
    }
    n += window.length;
  } while (elapsedNs(t0) < ms * 1e6);
  return elapsedNs(t0) / n;
}

/**
 * governedPolicy is the benchmark policy with a trust rule (ahead of the
 * rest), circuit breakers, risk escalation and an intent contract on
 * http.request (a CEL pre-condition, checked before the policy on every
 * such request: ~a quarter of the tool calls).
 */
function governedPolicy(): PolicyEngine {
  const document = pdlDocument(ruleSpecs());
  const governed = {
    ...document,
    defaults: { ...document.defaults, breaker: { failures: 5 }, escalate_risk: 'critical' as const },
    contracts: [{ id: 'no-deletes', syscalls: ['SYS_EXEC'], tools: ['http.request'], pre: ["request.args.method != 'DELETE'"] }],
    rules: [{ id: 'doubted-agents-ask', effect: 'require_approval' as const, syscalls: ['SYS_EXEC'], trust: { below: 300 } }, ...document.rules],
  };
  return new PolicyEngine(parsePolicy(JSON.stringify(governed), 'bench-1000-rules-governed.json'));
}

/** timeShadowed is timeOurs with a shadow policy: each decision is also made under `shadow` and compared, as the authorizer does. */
function timeShadowed(engine: PolicyEngine, shadow: ShadowPolicy, window: readonly Prepared[], ms = OURS_MS): number {
  let n = 0;
  const t0 = process.hrtime.bigint();
  do {
    for (const r of window) shadow.compare(r.ours, engine.decide(r.ours), engine.policy);
    n += window.length;
  } while (elapsedNs(t0) < ms * 1e6);
  return elapsedNs(t0) / n;
}

function timeOurs(engine: PolicyEngine, window: readonly Prepared[], ms = OURS_MS): number {
  let n = 0;
  const t0 = process.hrtime.bigint();
  do {
    for (const r of window) engine.decide(r.ours);
    n += window.length;
  } while (elapsedNs(t0) < ms * 1e6);
  return elapsedNs(t0) / n;
}

/** byClass times ours on each kind of request, with the size of its candidate list (the syscall/tool bucket). */
function byClass(engine: PolicyEngine, requests: readonly Prepared[]): string {
  const classes = new Map<string, Prepared[]>();
  for (const r of requests) {
    const kind = r.spec.path?.startsWith('/shared/') ? 'shared path' : r.spec.path ? 'agent path' : (r.spec.tool ?? 'fd/self');
    classes.set(kind, [...(classes.get(kind) ?? []), r]);
  }
  return [...classes]
    .map(([kind, list]) => {
      const sizes = list.map(({ ours }) => {
        const b = engine.policy.compiled.candidates(ours);
        return b.length;
      });
      return `${kind} ${(timeOurs(engine, list, 50) / 1000).toFixed(1)} µs (${Math.min(...sizes)}–${Math.max(...sizes)} candidate rules)`;
    })
    .join(', ');
}

function timeEach(window: readonly Prepared[], decide: (r: Prepared) => unknown): number {
  const t0 = process.hrtime.bigint();
  for (const r of window) decide(r);
  return elapsedNs(t0) / window.length;
}

async function measureEngines({ rounds, log }: BenchOptions): Promise<Figure[]> {
  const specs = ruleSpecs();
  const engines: Engines = { ours: new PolicyEngine(benchPolicy()), cedar: new CedarPeer(specs), agt: new AgtPeer(specs) };
  const requests = requestSpecs(CHECKED).map((spec): Prepared => ({ spec, ours: policyRequest(spec), trusted: { ...policyRequest(spec), trust: 1000 }, cedar: engines.cedar.call(spec), agt: engines.agt.context(spec) }));
  const { agree, mix } = checkEquivalence(engines, requests, log);
  log(`policy: ${agree}/${requests.length} requests decided alike by all three engines (${mix}); cedar evaluation errors: ${engines.cedar.errors}`);
  const decideCedar = (r: Prepared) => engines.cedar.decide(r.cedar);
  const decideAgt = (r: Prepared) => engines.agt.decide(r.spec.agent, r.agt);
  timeOurs(engines.ours, requests); // warm-up (JIT, per-agent glob caches, bucket cache)
  const governedEngine = governedPolicy();
  const trust = new TrustScores();
  const breakers = new Breakers(() => governedEngine.breaker, Date.now, () => undefined);
  // Some agents lost trust, some breakers hold failures: the maps are not empty.
  for (let i = 0; i < 50; i++) {
    trust.lower(requests[i]!.ours.agentId, 'denial');
    breakers.failed(requests[i]!.ours.agentId, 'SYS_OPEN');
  }
  timeGoverned(governedEngine, trust, breakers, requests);
  // The same decisions with a shadow policy beside (the benchmark policy with one rule of its own, first: few disagreements).
  const shadow = new ShadowPolicy(parsePolicy(JSON.stringify({ ...pdlDocument(ruleSpecs()), rules: [{ id: 'shadow-no-dd', effect: 'deny', syscalls: ['SYS_EXEC'], tools: ['shell.run'], args: [{ arg: 'cmd', glob: 'dd *' }] }, ...pdlDocument(ruleSpecs()).rules] }), 'bench-shadow.json'));
  timeShadowed(engines.ours, shadow, requests);
  const shadowed: number[] = [];
  const shadowRatio: number[] = [];
  const governed: number[] = [];
  const ours: number[] = [];
  const cedar: number[] = [];
  const agt: number[] = [];
  const cedarRatio: number[] = [];
  const agtRatio: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const from = (r * WINDOW) % (requests.length - WINDOW);
    const window = requests.slice(from, from + WINDOW);
    const o = timeOurs(engines.ours, window);
    const withShadow = timeShadowed(engines.ours, shadow, window);
    shadowed.push(withShadow);
    shadowRatio.push(withShadow / o);
    governed.push(timeGoverned(governedEngine, trust, breakers, window));
    const c = timeEach(window, decideCedar);
    const a = timeEach(window, decideAgt);
    ours.push(o);
    cedar.push(c);
    agt.push(a);
    cedarRatio.push(c / o);
    agtRatio.push(a / o);
    log(`policy round ${r + 1}/${rounds}: ours ${o.toFixed(0)} ns, cedar ${(c / 1000).toFixed(0)} µs, agt ${(a / 1000).toFixed(0)} µs per decision`);
    await new Promise((resolve) => setImmediate(resolve));
  }
  const windows = `windows of ${WINDOW} requests (${rounds} rounds)`;
  const classes = byClass(engines.ours, requests);
  log(`policy: ours by kind of request: ${classes}`);
  return [
    { key: 'policy_eval_1000_rules_ns', value: median(ours), unit: 'ns', target: { op: '<=', bound: 1000 }, note: `${spread(ours)} over ${windows}; checked set: ${mix}; by kind: ${classes}` },
    { key: 'policy_eval_1000_rules_trust_breakers_ns', value: median(governed), unit: 'ns', target: { op: '<=', bound: 1000 }, note: `the same windows, same rounds, with trust, circuit breakers and contracts on (a trust rule added, defaults.breaker and escalate_risk set, a CEL pre-condition on http.request; each decision reads the agent's score, asks its breaker and checks contracts first): ${spread(governed)}; without them ${median(ours).toFixed(0)} ns` },
    { key: 'policy_eval_1000_rules_shadow_ns', value: median(shadowed), unit: 'ns', note: `the same windows with a shadow policy beside (the benchmark policy and one rule more; each decision also made under it and compared): ${spread(shadowed)}` },
    { key: 'shadow_overhead_ratio', value: median(shadowRatio), unit: 'x', target: { op: '<=', bound: 1.5 }, note: `decision with a shadow ÷ without, median of per-round ratios, ${spread(shadowRatio, 2)}; a request no changed rule can match is not decided again (kernel/policy/shadow.ts), so the cost follows the size of the change, not of the policy` },
    { key: 'cedar_wasm_1000_rules_ns', value: median(cedar), unit: 'ns', note: `${spread(cedar)}; statefulIsAuthorized, preparsed policy set, entities prebuilt` },
    { key: 'cedar_over_ours', value: median(cedarRatio), unit: 'x', target: { op: '>=', bound: 100 }, note: `median of per-round ratios, ${spread(cedarRatio, 1)}` },
    { key: 'agt_policy_1000_rules_ns', value: median(agt), unit: 'ns', note: `${spread(agt)}; PolicyEngine.evaluatePolicy, deny-overrides` },
    { key: 'agt_over_ours', value: median(agtRatio), unit: 'x', target: { op: '>=', bound: 1 }, note: `median of per-round ratios, ${spread(agtRatio, 1)} (target: above 1)` },
    { key: 'policy_equivalence_checked', value: agree, unit: 'req', target: { op: '>=', bound: requests.length }, note: `requests on which ours, Cedar and AGT agree (effect and rule), of ${requests.length} checked` },
    { key: 'policy_equivalence_mismatches', value: requests.length - agree, unit: 'req', target: { op: '<=', bound: 0 } },
  ];
}

const ENGINE_KEYS = ['policy_eval_1000_rules_ns', 'policy_eval_1000_rules_trust_breakers_ns', 'policy_eval_1000_rules_shadow_ns', 'shadow_overhead_ratio', 'cedar_wasm_1000_rules_ns', 'cedar_over_ours', 'agt_policy_1000_rules_ns', 'agt_over_ours', 'policy_equivalence_checked', 'policy_equivalence_mismatches'];

export const policyBench: Bench = {
  name: 'policy',
  keys: [...ENGINE_KEYS, ...POLICY_SCALE_KEYS, ...GOVERNED_KEYS, ...GOVERNED_PINNED_KEYS, 'recorder_records_per_s', 'recorder_durable_records_per_s'],
  async run(options: BenchOptions): Promise<Figure[]> {
    return [
      ...(await measureEngines(options)),
      ...(await measurePolicyScale(options)),
      ...(await measureGovernedGetpid(options)),
      ...(await measureGovernedGetpidPinned(options)),
      ...(await measureRecorder(options)),
    ];
  },
};
