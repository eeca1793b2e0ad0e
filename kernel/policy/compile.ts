/**
 * compilePolicy turns a validated document into closures, once: each rule
 * becomes a list of condition tests (cheapest first), and rules are indexed
 * by syscall and literal tool name, then by one literal the request must
 * carry (a path directory, an argument prefix, a label, an agent id), so a
 * request is tried only against rules that can match it. No request ever
 * re-parses the policy.
 */
import { SYSCALL_NUMBERS } from '../../syscalls/table.ts';
import { anyGlob, argText, globTest, isLiteral, literalHead, MATCH_LIMIT, regexTest, type StringTest, windowTest } from './matchers.ts';
import { AGENT_PLACEHOLDER as AGENT_VAR, placeholderProblem } from './placeholders.ts';
import { isPathGlob, notCanonical, pathSpelling } from './path-spelling.ts';
import { ContractSet } from './contracts.ts';
import { guarded, PolicyFieldError } from './field-error.ts';
import { candidatesFrom, indexOf, listIn, type Index } from './rule-index.ts';
import type { PolicyRequest } from '../../abi/policy-request.ts';
import type { PolicyDocument, PolicyRule, Risk, RuleLimits } from './schema.ts';
import type { Effect } from '../../abi/kinds.ts';
import type { BreakerSettings } from '../breakers.ts';


export interface Condition {
  /** The field this condition comes from, for explain. */
  readonly field: string;
  readonly test: (request: PolicyRequest, now: number) => boolean;
}

export interface CompiledRule {
  readonly id: string;
  readonly order: number;
  readonly effect: Effect;
  readonly rule: PolicyRule;
  readonly conditions: readonly Condition[];
  /** A condition reads the time (a `when` window): the engine reads its clock only for such rules and for limits. */
  readonly timed: boolean;
  readonly limits: RuleLimits | undefined;
  /**
   * For a rule with glob or regex argument patterns: why a request's
   * argument was not read as sent, if it was not — longer than MATCH_LIMIT,
   * or, for a path glob, a path not in canonical form (path-spelling.ts) —
   * and so matched this rule only if it denies.
   */
  readonly argNote: ((request: PolicyRequest) => string | undefined) | undefined;
  /** For a rule with path-like argument globs: which argument was a path not in canonical form (path-spelling.ts), if one was. */
  readonly pathNote: ((request: PolicyRequest) => string | undefined) | undefined;
}


export interface CompiledPolicy {
  readonly version: string;
  readonly rules: readonly CompiledRule[];
  readonly approvalTimeoutMs: number;
  /** defaults.trust_floor: below it an agent gets SIGTRUST; undefined: never. */
  readonly trustFloor: number | undefined;
  /** defaults.breaker, with its defaults filled in; undefined: no circuit breakers. */
  readonly breaker: BreakerSettings | undefined;
  /** defaults.escalate_risk: an allow by a rule at least this risky needs approval; undefined: none does. */
  readonly escalateRisk: Risk | undefined;
  /** The intent contracts (kernel/policy/contracts.ts). */
  readonly contracts: ContractSet;
  /** candidates returns the only rules that can match `request` (in no particular order; each rule knows its order). */
  candidates(request: PolicyRequest): readonly CompiledRule[];
  /** relevant lists every rule for `syscall` and `tool`, before the finer index (for explain). */
  relevant(syscall: string, tool: string | undefined): readonly CompiledRule[];
}

const DEFAULT_APPROVAL_TIMEOUT_MS = 60_000;
const ACTION_NAME = /^[a-z][a-z0-9_.:-]{0,127}$/;

/** checkPlaceholder refuses a pattern whose `${name}` placeholders are unknown, or that has any where `expands` is false. */
function checkPlaceholder(pattern: string, at: readonly (string | number)[], expands: boolean): void {
  const problem = placeholderProblem(pattern, expands);
  if (problem !== undefined) throw new PolicyFieldError(at, problem);
}

function checkPlaceholders(patterns: readonly string[], at: readonly (string | number)[], expands: boolean): void {
  patterns.forEach((pattern, i) => checkPlaceholder(pattern, [...at, i], expands));
}

/** How many `${agent}` automata (glob list × agent id) one policy keeps compiled, in all. */
export const MAX_AGENT_GLOBS = 16_384;

/**
 * AgentGlobs keeps the automata of `${agent}` path globs compiled for one
 * agent id, shared by every rule with the same glob list (a policy has many
 * rules but few distinct templates such as `/agent/${agent}/mem/notes/**`).
 * At most MAX_AGENT_GLOBS are kept for the whole policy, however many rules
 * and agent ids there are; past that it starts afresh (each is rebuilt on
 * its next use).
 */
export class AgentGlobs {
  private readonly byTemplate = new Map<string, Map<string, StringTest>>();
  private count = 0;

  /** size is how many automata are kept now. */
  get size(): number {
    return this.count;
  }

  /** forGlobs answers the compiled test of `templated` for an agent id. */
  forGlobs(templated: readonly string[]): (agentId: string) => StringTest {
    // JSON, not a join: a glob may hold any character, a newline too, and two lists must never share a key.
    const key = JSON.stringify(templated);
    let byAgent = this.byTemplate.get(key);
    if (byAgent === undefined) this.byTemplate.set(key, (byAgent = new Map()));
    const compiled = byAgent;
    return (agentId) => {
      let test = compiled.get(agentId);
      if (test !== undefined) return test;
      if (this.count >= MAX_AGENT_GLOBS) {
        for (const m of this.byTemplate.values()) m.clear();
        this.count = 0;
      }
      test = anyGlob(templated.map((g) => g.replaceAll(AGENT_VAR, agentId)));
      compiled.set(agentId, test);
      this.count++;
      return test;
    };
  }
}

/** pathTest compiles path globs; globs using ${agent} are compiled per agent id, kept in the policy's AgentGlobs. */
function pathTest(globs: readonly string[], at: readonly (string | number)[], agentGlobs: AgentGlobs): (request: PolicyRequest) => boolean {
  checkPlaceholders(globs, at, true);
  globs.forEach((g, i) => guarded([...at, i], () => globTest(g.replaceAll(AGENT_VAR, 'x'))));
  const fixed = globs.filter((g) => !g.includes(AGENT_VAR));
  const templated = globs.filter((g) => g.includes(AGENT_VAR));
  const fixedTest = fixed.length > 0 ? guarded(at, () => anyGlob(fixed)) : () => false;
  const forAgent = templated.length > 0 ? agentGlobs.forGlobs(templated) : undefined;
  return (request) => {
    const path = request.path;
    if (path === undefined) return false;
    if (fixedTest(path)) return true;
    return forAgent !== undefined && forAgent(request.agentId)(path);
  };
}

function hasLabel(r: PolicyRequest, key: string, test: StringTest): boolean {
  return r.labels !== undefined && Object.hasOwn(r.labels, key) && test(r.labels[key]!);
}

/** breakerSettings fills in a breaker's defaults: a 10 s window, a 30 s cool-down. */
function breakerSettings(raw: { failures: number; window_ms?: number; cooldown_ms?: number } | undefined): BreakerSettings | undefined {
  return raw === undefined ? undefined : { failures: raw.failures, windowMs: raw.window_ms ?? 10_000, cooldownMs: raw.cooldown_ms ?? 30_000 };
}

function compileRule(rule: PolicyRule, order: number, agentGlobs: AgentGlobs, regexes: Map<string, StringTest>): CompiledRule {
  const at = ['rules', order] as const;
  const conditions: Condition[] = [];
  if (rule.syscalls) {
    rule.syscalls.forEach((name, i) => {
      if (name === '*' || Object.hasOwn(SYSCALL_NUMBERS, name) || ACTION_NAME.test(name)) return;
      throw new PolicyFieldError([...at, 'syscalls', i], `unknown syscall '${name}' (use a SYS_* name from the table, a lower-case action name, or *)`);
    });
  }
  if (rule.allow_flows && rule.effect === 'deny') {
    throw new PolicyFieldError([...at, 'allow_flows'], 'only allow and require_approval rules can let a flow through');
  }
  if (rule.access) {
    const access = new Set<string>(rule.access);
    conditions.push({ field: 'access', test: (r) => access.has(r.access ?? 'none') });
  }
  if (rule.trust) {
    const below = rule.trust.below;
    conditions.push({ field: 'trust', test: (r) => (r.trust ?? 1000) < below });
  }
  if (rule.lineage) {
    const lineage = new Set<string>(rule.lineage);
    conditions.push({ field: 'lineage', test: (r) => lineage.has(r.lineage ?? 'root') });
  }
  if (rule.tools) {
    checkPlaceholders(rule.tools, [...at, 'tools'], false);
    const test = guarded([...at, 'tools'], () => anyGlob(rule.tools!));
    conditions.push({ field: 'tools', test: (r) => r.tool !== undefined && test(r.tool) });
  }
  if (rule.agents) {
    checkPlaceholders(rule.agents, [...at, 'agents'], false);
    const test = guarded([...at, 'agents'], () => anyGlob(rule.agents!));
    conditions.push({ field: 'agents', test: (r) => test(r.agentId) });
  }
  if (rule.labels) {
    for (const [key, glob] of Object.entries(rule.labels)) checkPlaceholder(glob, [...at, 'labels', key], false);
    const wanted = Object.entries(rule.labels).map(([key, glob]) => [key, guarded([...at, 'labels', key], () => globTest(glob))] as const);
    const [only] = wanted;
    conditions.push({
      field: 'labels',
      test: wanted.length === 1 ? (r) => hasLabel(r, only![0], only![1]) : (r) => wanted.every(([key, test]) => hasLabel(r, key, test)),
    });
  }
  if (rule.capabilities) {
    const needed = rule.capabilities;
    conditions.push({ field: 'capabilities', test: (r) => needed.every((c) => r.capabilities?.has(c) === true) });
  }
  if (rule.paths) conditions.push({ field: 'paths', test: pathTest(rule.paths, [...at, 'paths'], agentGlobs) });
  let argNote: ((request: PolicyRequest) => string | undefined) | undefined;
  let pathNote: ((request: PolicyRequest) => string | undefined) | undefined;
  if (rule.args) {
    // A value a glob or regex does not read (past MATCH_LIMIT; a path-like value not in canonical form, for a path glob) matches a deny rule and no other (fail closed).
    const deny = rule.effect === 'deny';
    const capped: string[] = [];
    const paths: string[] = [];
    const tests = rule.args.map((pattern, i) => {
      const where = [...at, 'args', i];
      const name = pattern.arg;
      if (pattern.equals !== undefined) {
        const want = pattern.equals;
        return [name, (v: unknown) => argText(v) === want] as const;
      }
      if (pattern.contains !== undefined) {
        const want = pattern.contains;
        return [name, (v: unknown) => argText(v).includes(want)] as const;
      }
      if (pattern.glob !== undefined) checkPlaceholder(pattern.glob, [...where, 'glob'], false);
      const test: StringTest = pattern.glob !== undefined ? guarded([...where, 'glob'], () => globTest(pattern.glob!)) : guarded([...where, 'regex'], () => regexOnce(regexes, pattern.regex!));
      // Past the limit only a glob's literal head is compared (as the rule index does); the rest is not read.
      const head = pattern.glob === undefined ? '' : literalHead(pattern.glob);
      capped.push(name);
      if (pattern.glob !== undefined && isPathGlob(pattern.glob)) {
        paths.push(name);
        return [
          name,
          (v: unknown) => {
            const text = argText(v);
            if (pathSpelling(text) !== undefined) return deny;
            return text.length > MATCH_LIMIT ? deny && text.startsWith(head) : test(text);
          },
        ] as const;
      }
      return [
        name,
        (v: unknown) => {
          const text = argText(v);
          return text.length > MATCH_LIMIT ? deny && text.startsWith(head) : test(text);
        },
      ] as const;
    });
    conditions.push({
      field: 'args',
      test: (r) => tests.every(([name, test]) => r.args !== undefined && Object.hasOwn(r.args, name) && test(r.args[name])),
    });
    if (paths.length > 0) {
      pathNote = (r) => {
        if (r.args === undefined) return undefined;
        for (const name of paths) {
          if (!Object.hasOwn(r.args, name)) continue;
          const why = pathSpelling(argText(r.args[name]));
          if (why !== undefined) return `${notCanonical(name, why, deny)} (rule ${rule.id})`;
        }
        return undefined;
      };
    }
    if (capped.length > 0) {
      const pathFirst = pathNote;
      argNote = (r) => {
        const note = pathFirst?.(r);
        if (note !== undefined || r.args === undefined) return note;
        for (const name of capped) {
          if (!Object.hasOwn(r.args, name)) continue;
          const length = argText(r.args[name]).length;
          if (length > MATCH_LIMIT) return `argument '${name}' is ${length} characters, more than the ${MATCH_LIMIT} that glob and regex patterns read (rule ${rule.id}; fail closed)`;
        }
        return undefined;
      };
    }
  }
  if (rule.when) {
    const when = rule.when;
    const test = guarded([...at, 'when', 'timezone'], () => windowTest(when));
    conditions.push({ field: 'when', test: (_r, now) => test(now) });
  }
  // Every compiled rule has one shape (absent fields undefined): the engine's loop over candidates reads them monomorphically.
  return { id: rule.id, order, effect: rule.effect, rule, conditions, timed: rule.when !== undefined, limits: rule.limits, argNote, pathNote };
}


export function compilePolicy(document: PolicyDocument, version: string): CompiledPolicy {
  return assemble(document, version, [...compiledRules(document, new Map())]);
}

/**
 * compilePolicySliced is compilePolicy in slices of the event loop at most
 * `sliceMs` long, a turn apart: first each distinct regex (RE2 compiles one
 * in 0.4–5 ms: an attacker pass held agentd's loop 3.8 s with 1,280 of them
 * in one policy it was asked to validate), then each rule (5,000 glob rules
 * held it ~1.1 s). For the policies agentd is sent (parse-off-loop.ts).
 */
export async function compilePolicySliced(document: PolicyDocument, version: string, sliceMs = 2): Promise<CompiledPolicy> {
  let sliceStart = performance.now();
  const turn = async () => {
    if (performance.now() - sliceStart < sliceMs) return;
    await new Promise((resolve) => setImmediate(resolve));
    sliceStart = performance.now();
  };
  const regexes = new Map<string, StringTest>();
  for (const rule of document.rules) {
    for (const pattern of rule.args ?? []) {
      if (pattern.regex === undefined || regexes.has(pattern.regex)) continue;
      try {
        regexOnce(regexes, pattern.regex);
      } catch {
        // Left for the rule's compile to refuse, naming its field.
      }
      await turn();
    }
  }
  const rules: CompiledRule[] = [];
  for (const rule of compiledRules(document, regexes)) {
    rules.push(rule);
    await turn();
  }
  return assemble(document, version, rules);
}

/**
 * regexOnce is the test of regex `pattern`, compiled once per policy however
 * many rules name it (YAML aliases repeat one list of regexes in every rule
 * for a few bytes each: a review).
 */
function regexOnce(regexes: Map<string, StringTest>, pattern: string): StringTest {
  let test = regexes.get(pattern);
  if (test === undefined) regexes.set(pattern, (test = regexTest(pattern)));
  return test;
}

/** compiledRules compiles the document's rules one at a time (`regexes`: tests compiled ahead, by pattern, and those compiled on the way). */
function* compiledRules(document: PolicyDocument, regexes: Map<string, StringTest>): Generator<CompiledRule> {
  const seen = new Map<string, number>();
  const agentGlobs = new AgentGlobs();
  for (const [i, rule] of document.rules.entries()) {
    if (seen.has(rule.id)) throw new PolicyFieldError(['rules', i, 'id'], `duplicate rule id '${rule.id}' (first at rules[${seen.get(rule.id)}])`);
    seen.set(rule.id, i);
    yield compileRule(rule, i, agentGlobs, regexes);
  }
}

/** assemble indexes compiled rules into the policy. */
function assemble(document: PolicyDocument, version: string, rules: readonly CompiledRule[]): CompiledPolicy {
  const anySyscall = rules.filter((r) => r.rule.syscalls === undefined || r.rule.syscalls.includes('*'));
  const bySyscall = new Map<string, CompiledRule[]>();
  for (const r of rules) {
    for (const name of new Set(r.rule.syscalls ?? [])) if (name !== '*') listIn(bySyscall, name).push(r);
  }
  // Indexes are cached per (syscall, tool) the policy names; a syscall or tool
  // it does not name (an agent chooses tool names) shares one entry, so the
  // cache is bounded by the policy, not by what agents send.
  const namedTools = new Set(rules.flatMap((r) => r.rule.tools ?? []).filter(isLiteral));
  const cache = new Map<string | undefined, Map<string | undefined, Index>>();
  const indexFor = (syscall: string, tool: string | undefined): Index => {
    const syscallKey = bySyscall.has(syscall) ? syscall : undefined;
    const toolKey = tool !== undefined && namedTools.has(tool) ? tool : undefined;
    let byTool = cache.get(syscallKey);
    let index = byTool?.get(toolKey);
    if (index !== undefined) return index;
    const merged = [...(syscallKey === undefined ? [] : bySyscall.get(syscallKey)!), ...anySyscall].toSorted((a, b) => a.order - b.order);
    // Rules whose tools are all literals can only match those tools.
    index = indexOf(merged.filter((r) => r.rule.tools === undefined || !r.rule.tools.every(isLiteral) || (toolKey !== undefined && r.rule.tools.includes(toolKey))));
    if (byTool === undefined) cache.set(syscallKey, (byTool = new Map()));
    byTool.set(toolKey, index);
    return index;
  };
  const candidates = (request: PolicyRequest): readonly CompiledRule[] => candidatesFrom(indexFor(request.syscall, request.tool), request);
  const relevant = (syscall: string, tool: string | undefined): readonly CompiledRule[] => indexFor(syscall, tool).all;
  const contracts = new ContractSet(document.contracts ?? []);
  const defaults = document.defaults;
  return { version, rules, approvalTimeoutMs: defaults?.approval_timeout_ms ?? DEFAULT_APPROVAL_TIMEOUT_MS, trustFloor: defaults?.trust_floor, breaker: breakerSettings(defaults?.breaker), escalateRisk: defaults?.escalate_risk, contracts, candidates, relevant };
}
