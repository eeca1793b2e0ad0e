/**
 * The request model: every field a rule can match on is a solver variable
 * (syscall, agent id, labels, capabilities, lineage, access, path, tool,
 * arguments, guarded flows, trust, tokens, the local time in each time zone
 * the policy names, and which rule limits are used up), and each rule
 * becomes a formula over them that holds exactly when the engine's compiled
 * rule matches. What cannot be written exactly (a regex outside RE2's
 * regular core, a `${agent}` glob of an unusual shape, several time zones
 * at once) becomes a free boolean: the model then admits more than the
 * engine does (an over-approximation), and `approximations` says where.
 */
import type { PolicyRule, Risk } from '../schema.ts';
import { literalHead, MATCH_LIMIT, WEEKDAYS, windowMinutes } from '../matchers.ts';
import { RISK_RANK } from '../engine.ts';
import { AGENT_PLACEHOLDER } from '../placeholders.ts';
import { isPathGlob } from '../path-spelling.ts';
import { globIn, templatedParts } from './glob-smt.ts';
import { NO_SURROGATES, regexIn } from './regex-smt.ts';
import { lit } from './smt.ts';

/** The agent ids the kernel runs and agentd's credentials name (kernel/capabilities.ts): the model's agents. */
export const AGENT_ID_RE = '(re.++ (re.union (re.range "A" "Z") (re.range "a" "z") (re.range "0" "9")) (re.* (re.union (re.range "A" "Z") (re.range "a" "z") (re.range "0" "9") (str.to_re ".") (str.to_re "_") (str.to_re "-"))))';
/** The longest agent id (kernel/capabilities.ts). */
const AGENT_ID_MAX = 64;

export const ACCESS = ['none', 'read', 'write'] as const;
export const EFFECTS = ['allow', 'require_approval', 'deny'] as const;
export type EffectName = (typeof EFFECTS)[number];

/** Decision codes: a rule's own decision is its index; a used-up limit's deny adds USED_UP; then the kernel's two. */
export const USED_UP = 1_000_000;
export const FLOW_DENY = -2;
export const DEFAULT_DENY = -1;

/** RuleAt is a rule with its index in its policy's document. */
export interface RuleAt {
  readonly rule: PolicyRule;
  readonly order: number;
}

/** A slice's decision as formulas: the deciding code and the effect (0 allow, 1 require_approval, 2 deny). */
export interface DecisionTerms {
  readonly defs: string;
  readonly code: string;
  readonly effect: string;
}

const V = {
  sys: 'v_sys',
  agent: 'v_agent',
  toolP: 'v_tool_p',
  tool: 'v_tool',
  pathP: 'v_path_p',
  path: 'v_path',
  access: 'v_access',
  child: 'v_child',
  trust: 'v_trust',
  tokens: 'v_tokens',
  flow: 'v_flow',
} as const;
export { V as VARS };

const or = (xs: readonly string[]): string => (xs.length === 0 ? 'false' : xs.length === 1 ? xs[0]! : `(or ${xs.join(' ')})`);
const and = (xs: readonly string[]): string => (xs.length === 0 ? 'true' : xs.length === 1 ? xs[0]! : `(and ${xs.join(' ')})`);
export { and, or };

/**
 * notCanonicalPath is the formula "`value` is a path (starts with '/') not in
 * the kernel's canonical form": a '.' or '..' segment, an empty segment, a
 * trailing '/' (but '/' itself) or a NUL; exactly path-spelling.ts's test.
 */
export function notCanonicalPath(value: string): string {
  const wrong = [
    `(str.contains ${value} "//")`,
    `(str.contains ${value} "/./")`,
    `(str.contains ${value} "/../")`,
    `(str.suffixof "/." ${value})`,
    `(str.suffixof "/.." ${value})`,
    `(and (str.suffixof "/" ${value}) (not (= ${value} "/")))`,
    `(str.contains ${value} ${lit('\0')})`,
  ];
  return `(and (str.prefixof "/" ${value}) (or ${wrong.join(' ')}))`;
}

/** chain is an if-then-else chain: the first case whose condition holds, else `last`. */
const chain = (cases: readonly [string, string][], last: string): string => cases.reduceRight((rest, [cond, then]) => `(ite ${cond} ${then} ${rest})`, last);

export class RequestModel {
  readonly labels = new Map<string, number>();
  readonly caps = new Map<string, number>();
  readonly args = new Map<string, number>();
  readonly zones = new Map<string, number>();
  /**
   * Counts the engine keeps by rule id (so two policies compared share them):
   * `calls:ID`, the calls a rule let through so far; `PER:ID`, those within
   * its rate window (by the window's length).
   */
  readonly counts = new Map<string, number>();
  /** Atoms written as free booleans, by what they stand for. */
  private readonly open = new Map<string, number>();
  /** Texts arguments are compared with for equality (by argument index and text). */
  private readonly pins = new Map<string, { index: number; text: string }>();
  /** Splits of the path after a `${agent}` head: the head's formula, by the head's text. */
  private readonly splits = new Map<string, { index: number; head: string }>();
  /** Where the model admits more than the engine: subject → why. */
  readonly approximations = new Map<string, string>();
  private readonly matches = new WeakMap<PolicyRule, string>();

  private index(map: Map<string, number>, key: string): number {
    let i = map.get(key);
    if (i === undefined) map.set(key, (i = map.size));
    return i;
  }

  label(key: string): { present: string; value: string } {
    const i = this.index(this.labels, key);
    return { present: `v_l${i}_p`, value: `v_l${i}` };
  }

  cap(name: string): string {
    return `v_c${this.index(this.caps, name)}`;
  }

  /**
   * arg is an argument's variables: present, its text, and whether it is
   * longer than MATCH_LIMIT. That last one is a free choice, tied to the
   * text's length only where the text equals a short literal (see pin): z3
   * was measured not finding a string of 8,193 letters within 8 s. A witness
   * that chose it gets its text padded past the limit, and the engine
   * confirms it or refutes it; questions are asked first with every argument
   * within the limit (ask.ts).
   */
  arg(name: string): { present: string; value: string; over: string } {
    const i = this.index(this.args, name);
    return { present: `v_a${i}_p`, value: `v_a${i}`, over: `v_a${i}_o` };
  }

  zone(name: string): { day: string; minute: string } {
    const i = this.index(this.zones, name);
    if (this.zones.size > 1) this.approximations.set('when', `time windows in ${this.zones.size} time zones (${[...this.zones.keys()].join(', ')}): the local times are modelled independently`);
    return { day: `v_z${i}_d`, minute: `v_z${i}_m` };
  }

  /** unknown is a free boolean standing for an atom the model cannot write exactly. */
  private unknown(key: string, subject: string, why: string): string {
    this.approximations.set(subject, why);
    return `v_u${this.index(this.open, key)}`;
  }

  /**
   * usedUp is the formula "the rule's limits are used up", over the counts
   * the engine keeps: calls so far against max_calls, calls within the
   * window against a rate, tokens against a token budget.
   */
  usedUp(rule: PolicyRule): string {
    const l = rule.limits;
    if (l === undefined) return 'false';
    const parts: string[] = [];
    if (l.max_calls !== undefined) parts.push(`(>= v_n${this.index(this.counts, `calls:${rule.id}`)} ${l.max_calls})`);
    if (l.rate !== undefined) parts.push(`(>= v_n${this.index(this.counts, `${l.rate.per}:${rule.id}`)} ${l.rate.count})`);
    if (l.token_budget !== undefined) parts.push(`(>= ${V.tokens} ${l.token_budget})`);
    return or(parts);
  }

  /** flowOk: the rule lets the request's guarded flows through (always for a request making none). */
  flowOk(rule: PolicyRule): string {
    return rule.effect !== 'deny' && rule.allow_flows?.includes('vfs-to-exec') === true ? 'true' : `(not ${V.flow})`;
  }

  /** match is the formula "the engine's compiled `rule` matches the request" (the rule at `where` names it in approximations). */
  match(rule: PolicyRule, where: string): string {
    const cached = this.matches.get(rule);
    if (cached !== undefined) return cached;
    const c: string[] = [];
    if (rule.syscalls !== undefined && !rule.syscalls.includes('*')) c.push(or([...new Set(rule.syscalls)].map((s) => `(= ${V.sys} ${lit(s)})`)));
    if (rule.access !== undefined) c.push(or([...new Set(rule.access)].map((a) => `(= ${V.access} ${ACCESS.indexOf(a)})`)));
    if (rule.trust !== undefined) c.push(`(< ${V.trust} ${rule.trust.below})`);
    if (rule.lineage !== undefined && rule.lineage.length === 1) c.push(rule.lineage[0] === 'child' ? V.child : `(not ${V.child})`);
    if (rule.tools !== undefined) c.push(`(and ${V.toolP} ${globIn(V.tool, rule.tools)})`);
    if (rule.agents !== undefined) c.push(globIn(V.agent, rule.agents));
    if (rule.labels !== undefined) {
      for (const [key, glob] of Object.entries(rule.labels)) {
        const l = this.label(key);
        c.push(`(and ${l.present} ${globIn(l.value, [glob])})`);
      }
    }
    for (const cap of rule.capabilities ?? []) c.push(this.cap(cap));
    if (rule.paths !== undefined) c.push(`(and ${V.pathP} ${this.paths(rule.paths, where)})`);
    (rule.args ?? []).forEach((p, i) => {
      const a = this.arg(p.arg);
      let test: string;
      if (p.equals !== undefined) {
        this.pin(p.arg, p.equals);
        test = `(= ${a.value} ${lit(p.equals)})`;
      }
      else if (p.contains !== undefined) test = `(str.contains ${a.value} ${lit(p.contains)})`;
      else {
        let pattern: string;
        if (p.glob !== undefined) pattern = globIn(a.value, [p.glob]);
        else {
          const r = regexIn(a.value, p.regex!);
          const open = (why: string) => this.unknown(`regex\u0000${p.arg}\u0000${p.regex}`, `${where}.args[${i}].regex`, why);
          if (!r.ok) pattern = open(`RE2 pattern ${JSON.stringify(p.regex)} (${r.why}): whether it matches is left open`);
          // Exact for text without surrogates; RE2 reads a pair as one character, so for such text the match is left open.
          else if (r.surrogates) pattern = `(ite (str.in_re ${a.value} ${NO_SURROGATES}) ${r.formula} ${open(`RE2 pattern ${JSON.stringify(p.regex)}: exact for text without characters outside the Basic Multilingual Plane; for text with them (RE2 reads a surrogate pair as one character) whether it matches is left open`)})`;
          else pattern = r.formula;
        }
        // Past MATCH_LIMIT a glob or regex reads nothing: a deny rule matches on the glob's literal head alone, any other rule does not.
        const over = rule.effect === 'deny' ? `(str.prefixof ${lit(p.glob === undefined ? '' : literalHead(p.glob))} ${a.value})` : 'false';
        test = `(ite ${a.over} ${over} ${pattern})`;
        // A path glob reads no path outside the kernel's canonical form, however long: a deny rule matches it, any other rule does not (path-spelling.ts).
        if (p.glob !== undefined && isPathGlob(p.glob)) test = `(ite ${notCanonicalPath(a.value)} ${rule.effect === 'deny'} ${test})`;
      }
      c.push(`(and ${a.present} ${test})`);
    });
    if (rule.when !== undefined) c.push(this.window(rule.when));
    const formula = and(c);
    this.matches.set(rule, formula);
    return formula;
  }

  private paths(globs: readonly string[], where: string): string {
    const fixed = globs.filter((g) => !g.includes(AGENT_PLACEHOLDER));
    const templated = globs.filter((g) => g.includes(AGENT_PLACEHOLDER));
    const parts: string[] = [];
    if (fixed.length > 0) parts.push(globIn(V.path, fixed));
    if (templated.length > 0) {
      const alternatives = templatedParts(templated);
      if (alternatives === undefined) parts.push(this.unknown(`paths\u0000${JSON.stringify(templated)}`, `${where}.paths`, `path globs ${JSON.stringify(templated)}: the text before \${agent} is not literal, so whether a path matches is left open`));
      else for (const alt of alternatives) parts.push('regex' in alt ? `(str.in_re ${V.path} ${alt.regex})` : this.split(alt.head, alt.rest));
    }
    return or(parts);
  }

  /**
   * split is "the path starts with `head` (texts and the agent id) and the
   * rest of it is in `rest`". The rest is a variable tied to the path by
   * "if the path starts with the head, it is the head and then the rest":
   * exact, and far easier for the solver than cutting the path by length.
   */
  split(head: readonly (string | null)[], rest: string): string {
    const parts = head.map((h) => (h === null ? V.agent : lit(h)));
    const text = parts.length === 1 ? parts[0]! : `(str.++ ${parts.join(' ')})`;
    let s = this.splits.get(text);
    if (s === undefined) this.splits.set(text, (s = { index: this.splits.size, head: text }));
    return `(and (str.prefixof ${text} ${V.path}) (str.in_re v_r${s.index} ${rest}))`;
  }

  private window(when: NonNullable<PolicyRule['when']>): string {
    const z = this.zone(when.timezone ?? 'UTC');
    const c: string[] = [];
    if (when.days !== undefined) c.push(or(when.days.map((d) => `(= ${z.day} ${WEEKDAYS.indexOf(d)})`)));
    if (when.hours !== undefined) {
      const [from, to] = windowMinutes(when.hours);
      c.push(from <= to ? `(and (>= ${z.minute} ${from}) (< ${z.minute} ${to}))` : `(or (>= ${z.minute} ${from}) (< ${z.minute} ${to}))`);
    }
    return and(c);
  }

  /**
   * decision writes how the engine decides among `rules` (the ones that can
   * match a request of one slice, in document order), as PolicyEngine does:
   * the first matching deny; else a matching rule whose limit is used up;
   * else the first require_approval, then the first allow (a question under
   * escalate_risk when risky enough); else a flow's deny or the default deny.
   */
  decision(tag: string, rules: readonly RuleAt[], escalate: Risk | undefined, where: (r: RuleAt) => string): DecisionTerms {
    const defs: string[] = [];
    const m = (r: RuleAt) => `${tag}_m${r.order}`;
    for (const r of rules) defs.push(`(define-fun ${m(r)} () Bool ${this.match(r.rule, where(r))})`);
    const denies = rules.filter((r) => r.rule.effect === 'deny');
    const others = rules.filter((r) => r.rule.effect !== 'deny');
    const ok = (r: RuleAt) => `(and ${m(r)} ${this.flowOk(r.rule)})`;
    const used = (r: RuleAt) => `(and ${ok(r)} ${this.usedUp(r.rule)})`;
    const live = (r: RuleAt) => `(and ${ok(r)} (not ${this.usedUp(r.rule)}))`;
    const approvals = others.filter((r) => r.rule.effect === 'require_approval');
    const allows = others.filter((r) => r.rule.effect === 'allow');
    const blocked = or(others.map((r) => `(and ${m(r)} (not ${this.flowOk(r.rule)}))`));
    const code = chain(
      [...denies.map((r) => [m(r), String(r.order)] as [string, string]), ...others.map((r) => [used(r), String(USED_UP + r.order)] as [string, string]), ...approvals.map((r) => [live(r), String(r.order)] as [string, string]), ...allows.map((r) => [live(r), String(r.order)] as [string, string])],
      `(ite ${blocked} ${FLOW_DENY} ${DEFAULT_DENY})`,
    );
    const risky = (r: RuleAt) => escalate !== undefined && r.rule.risk !== undefined && RISK_RANK[r.rule.risk] >= RISK_RANK[escalate];
    const allowEffect = allows.some(risky) ? chain(allows.map((r) => [live(r), risky(r) ? '1' : '0'] as [string, string]), '0') : '0';
    const effect = chain(
      [
        [or(denies.map(m)), '2'],
        [or(others.map(used)), '2'],
        [or(approvals.map(live)), '1'],
        [or(allows.map(live)), allowEffect],
      ],
      '2',
    );
    defs.push(`(define-fun ${tag}_code () Int ${code})`, `(define-fun ${tag}_effect () Int ${effect})`);
    return { defs: defs.join('\n'), code: `${tag}_code`, effect: `${tag}_effect` };
  }

  /** declarations declares every variable the formulas so far use, with its domain. */
  declarations(): string {
    const d: string[] = [];
    const str = (name: string) => d.push(`(declare-const ${name} String)`);
    const bool = (name: string) => d.push(`(declare-const ${name} Bool)`);
    const int = (name: string, lo: number, hi?: number) => d.push(`(declare-const ${name} Int)`, `(assert (<= ${lo} ${name}))`, ...(hi === undefined ? [] : [`(assert (<= ${name} ${hi}))`]));
    str(V.sys);
    d.push(`(assert (<= 1 (str.len ${V.sys}) 128))`);
    str(V.agent);
    d.push(`(assert (str.in_re ${V.agent} ${AGENT_ID_RE}))`, `(assert (<= (str.len ${V.agent}) ${AGENT_ID_MAX}))`);
    bool(V.toolP);
    str(V.tool);
    bool(V.pathP);
    str(V.path);
    int(V.access, 0, 2);
    bool(V.child);
    int(V.trust, 0, 1000);
    int(V.tokens, 0);
    bool(V.flow);
    for (const i of this.labels.values()) {
      bool(`v_l${i}_p`);
      str(`v_l${i}`);
    }
    for (const i of this.caps.values()) bool(`v_c${i}`);
    for (const i of this.args.values()) {
      bool(`v_a${i}_p`);
      str(`v_a${i}`);
      bool(`v_a${i}_o`);
    }
    // An argument equal to a short text is not longer than the limit (the one tie to its length the solver takes cheaply).
    for (const { index, text } of this.pins.values()) d.push(`(assert (=> (= v_a${index} ${lit(text)}) (not v_a${index}_o)))`);
    for (const i of this.zones.values()) {
      int(`v_z${i}_d`, 0, 6);
      int(`v_z${i}_m`, 0, 1439);
    }
    for (const i of this.counts.values()) int(`v_n${i}`, 0);
    for (const i of this.open.values()) bool(`v_u${i}`);
    for (const { index, head } of this.splits.values()) {
      str(`v_r${index}`);
      d.push(`(assert (=> (str.prefixof ${head} ${V.path}) (= ${V.path} (str.++ ${head} v_r${index}))))`);
    }
    return d.join('\n');
  }

  /** reads lists the variables a witness is read from. */
  reads(): string[] {
    const r: string[] = Object.values(V);
    for (const i of this.labels.values()) r.push(`v_l${i}_p`, `v_l${i}`);
    for (const i of this.caps.values()) r.push(`v_c${i}`);
    for (const i of this.args.values()) r.push(`v_a${i}_p`, `v_a${i}`, `v_a${i}_o`);
    for (const i of this.zones.values()) r.push(`v_z${i}_d`, `v_z${i}_m`);
    for (const i of this.counts.values()) r.push(`v_n${i}`);
    for (const i of this.open.values()) r.push(`v_u${i}`);
    return r;
  }

  /** longerChoices names the free choices "this argument is longer than MATCH_LIMIT". */
  longerChoices(): string[] {
    return [...this.args.values()].map((i) => `v_a${i}_o`);
  }

  /** pin records that `name` is compared with `text` for equality somewhere: equal to it, it is not past MATCH_LIMIT. */
  pin(name: string, text: string): void {
    if (text.length > MATCH_LIMIT) return;
    const index = this.index(this.args, name);
    this.pins.set(`${index}\u0000${text}`, { index, text });
  }

  /** openAssignment is the free choices' values in a model (free booleans, arguments past MATCH_LIMIT, several zones' times): to rule out a witness the engine did not confirm. */
  openAssignment(values: ReadonlyMap<string, string | number | boolean>): string {
    const bools = [...[...this.open.values()].map((i) => `v_u${i}`), ...[...this.args.values()].map((i) => `v_a${i}_o`)];
    const parts = bools.map((name) => (values.get(name) === true ? name : `(not ${name})`));
    const zones = [...this.zones.values()].flatMap((i) => [`(= v_z${i}_d ${Number(values.get(`v_z${i}_d`))})`, `(= v_z${i}_m ${Number(values.get(`v_z${i}_m`))})`]);
    return and([...parts, ...(this.zones.size > 1 ? zones : [])]);
  }
}
