/**
 * Policy analysis with the z3 solver (kernel/policy/analysis): hand-made
 * policies with known dead, shadowed and conflicting rules; diffs with
 * known classes; claims proved and refuted. Every witness the analysis
 * gives is run through the real engine. Over many generated policies the
 * analysis is checked against the engine from the other side too: no
 * request the engine decides by a rule the analysis calls dead or
 * shadowed, no pair of rules matching one request missing from the
 * conflicts, no request two policies decide differently outside the
 * classes the diff found, no claim proved that a request breaks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzePolicy, decidedBy, type AnalysisReport } from '../../kernel/policy/analysis/analyze.ts';
import { ClaimError, holds, parseClaim } from '../../kernel/policy/analysis/claim.ts';
import { diffPolicies } from '../../kernel/policy/analysis/diff.ts';
import { proveClaim } from '../../kernel/policy/analysis/prove.ts';
import { Solver } from '../../kernel/policy/analysis/smt.ts';
import { decideWitness, matchesRule, policyRequestOf, type Witness } from '../../kernel/policy/analysis/witness.ts';
import { PolicyEngine } from '../../kernel/policy/engine.ts';
import { parsePolicy, type LoadedPolicy } from '../../kernel/policy/load.ts';
import type { PolicyRule } from '../../kernel/policy/schema.ts';
import { prng } from '../../bench/policy-set.ts';
import { agentctl, scratch } from './helpers.ts';

const files = scratch();
afterAll(() => files.remove());

let solver: Solver;
beforeAll(async () => {
  solver = await Solver.open();
});

const load = (rules: readonly PolicyRule[], defaults?: Record<string, unknown>, name = 'p.json'): LoadedPolicy => parsePolicy(JSON.stringify({ version: 1, ...(defaults ? { defaults } : {}), rules }), name);

/** The rules `explain` says match a witness (the engine's own compiled rules). */
function matching(policy: LoadedPolicy, w: Witness): string[] {
  return new PolicyEngine(policy, () => Date.parse(w.at))
    .explain(policyRequestOf(w))
    .rules.filter((r) => r.matched)
    .map((r) => r.id);
}

const HAND: PolicyRule[] = [
  { id: 'deny-secrets', effect: 'deny', syscalls: ['SYS_OPEN'], paths: ['/agent/*/secrets/**'] },
  { id: 'own-tree', effect: 'allow', syscalls: ['SYS_OPEN', 'SYS_STAT'], paths: ['/agent/${agent}/**'] },
  { id: 'never', effect: 'allow', syscalls: ['SYS_OPEN'], paths: ['/agent/${agent}/secrets/x'] },
  { id: 'dead', effect: 'allow', syscalls: ['SYS_EXEC'], tools: ['http.get'], args: [{ arg: 'url', glob: 'https://*.example.com/**' }, { arg: 'url', regex: '^ftp:' }] },
  { id: 'fetch', effect: 'allow', syscalls: ['SYS_EXEC'], tools: ['http.*'], labels: { tier: 'trusted' } },
  { id: 'no-evil', effect: 'deny', syscalls: ['SYS_EXEC'], args: [{ arg: 'url', regex: 'evil\\.(com|net)' }] },
  { id: 'office', effect: 'require_approval', syscalls: ['SYS_EXEC'], tools: ['shell.run'], when: { days: ['mon', 'tue'], hours: '09:00-17:00', timezone: 'Europe/Paris' } },
  { id: 'dup-fetch', effect: 'allow', syscalls: ['SYS_EXEC'], tools: ['http.get'], labels: { tier: 'trusted' } },
  { id: 'used-up', effect: 'allow', syscalls: ['SYS_GETPID'], limits: { max_calls: 0 } },
  { id: 'risky', effect: 'allow', syscalls: ['SYS_SPAWN'], risk: 'critical' },
];

/** checkReport runs every witness of an analysis through the engine. */
function checkReport(policy: LoadedPolicy, r: AnalysisReport): void {
  for (const c of r.conflicts) expect(matching(policy, c.witness), `${JSON.stringify(c)} in ${JSON.stringify(policy.document.rules)}`).toEqual(expect.arrayContaining([c.deny.id, c.rule.id]));
  for (const s of r.shadowed) {
    expect(matchesRule(policy, s.rule.index, s.example!.witness)).toBe(true);
    expect(decideWitness(policy, s.example!.witness).rule).toBe(s.example!.decision.rule);
    expect(decidedBy(decideWitness(policy, s.example!.witness), s.rule.id)).toBe(false);
  }
}

describe('agentctl policy analyze: dead, shadowed and conflicting rules', () => {
  it('finds exactly the dead, shadowed and conflicting rules of a hand-made policy, each witness decided by the engine', async () => {
    const policy = load(HAND, { escalate_risk: 'high' });
    const r = await analyzePolicy(policy, solver);
    expect(r.dead.map((d) => d.id)).toEqual(['dead']);
    expect(r.shadowed.map((s) => [s.rule.id, s.by])).toEqual([
      ['never', ['deny-secrets']],
      ['dup-fetch', ['fetch']],
    ]);
    expect(r.conflicts.map((c) => `${c.deny.id}/${c.rule.id}`).toSorted()).toEqual(['deny-secrets/never', 'deny-secrets/own-tree', 'no-evil/dup-fetch', 'no-evil/fetch', 'no-evil/office']);
    expect(r.unanswered).toEqual([]);
    expect(r.approximations).toEqual([]);
    checkReport(policy, r);
  });

  it('says where the model over-approximates (a regex outside RE2’s regular core), and still confirms each witness with the engine', async () => {
    const policy = load([
      { id: 'word', effect: 'deny', syscalls: ['SYS_EXEC'], args: [{ arg: 'cmd', regex: '\\brm\\b' }] },
      { id: 'shell', effect: 'allow', syscalls: ['SYS_EXEC'], tools: ['shell.run'] },
    ]);
    const r = await analyzePolicy(policy, solver);
    expect(r.approximations).toEqual([expect.stringMatching(/^rules\[0\] \(word\)\.args\[0\]\.regex: RE2 pattern "\\\\brm\\\\b" \(escape \\b\): whether it matches is left open/)]);
    expect(r.conflicts.map((c) => `${c.deny.id}/${c.rule.id}`)).toEqual(['word/shell']);
    checkReport(policy, r);
    // Flags and word boundaries: the rule's own sample (the pattern less them) is confirmed by the engine, and so is a conflict's witness.
    const flags = load([
      { id: 'https', effect: 'allow', syscalls: ['SYS_EXEC'], tools: ['curl'], args: [{ arg: 'url', regex: '(?i)^HTTPS://' }] },
      { id: 'evil', effect: 'deny', syscalls: ['SYS_EXEC'], args: [{ arg: 'url', contains: 'evil' }] },
    ]);
    const f = await analyzePolicy(flags, solver);
    expect([f.unanswered, f.conflicts.map((c) => `${c.deny.id}/${c.rule.id}`)]).toEqual([[], ['evil/https']]);
    expect(f.approximations).toEqual([expect.stringMatching(/^rules\[0\] \(https\)\.args\[0\]\.regex: RE2 pattern/)]);
    checkReport(flags, f);
  });
});

describe('agentctl policy diff: the classes of requests decided differently', () => {
  it('lists exactly the expected classes, each witness decided as stated by both engines', async () => {
    const a = load(HAND.slice(0, 7));
    const b = load([HAND[1]!, HAND[2]!, HAND[4]!, HAND[5]!, HAND[6]!, { id: 'tool-x', effect: 'require_approval', syscalls: ['SYS_EXEC'], tools: ['x.run'] }], undefined, 'b.json');
    const r = await diffPolicies(a, b, solver);
    // Under B own-tree comes first, so it decides the secrets never would have (never stays shadowed).
    expect(r.classes.map((c) => `${c.direction} ${c.before.rule} → ${c.after.rule}`).toSorted()).toEqual(['deny→allow deny-secrets → own-tree', 'deny→require_approval default-deny → tool-x']);
    for (const c of r.classes) {
      expect(decideWitness(a, c.witness)).toMatchObject(c.before);
      expect(decideWitness(b, c.witness)).toMatchObject(c.after);
    }
    expect(r.slices.same).toBeGreaterThan(0);
    const same = await diffPolicies(a, load(HAND.slice(0, 7), undefined, 'copy.json'), solver);
    expect(same.classes).toEqual([]);
    expect(same.slices.compared).toBe(0);
  });
});

/** refused is the message a claim that does not parse gets. */
const refused = (text: string): string => {
  try {
    parseClaim(text);
    return 'parsed';
  } catch (err) {
    expect(err).toBeInstanceOf(ClaimError);
    return (err as Error).message;
  }
};

describe('agentctl policy prove: claims proved, or refuted by a request the engine decides', () => {
  it('proves what holds and refutes what does not, with a counterexample the engine confirms', async () => {
    const policy = load(HAND);
    const proved = async (text: string) => {
      const claim = parseClaim(text);
      const r = await proveClaim(policy, claim, solver);
      if (r.counterexample !== undefined) {
        expect(holds(claim, r.counterexample.witness)).toBe(true);
        expect(decideWitness(policy, r.counterexample.witness)).toMatchObject({ effect: r.counterexample.decision.effect, rule: r.counterexample.decision.rule });
      }
      return r.verdict;
    };
    expect(await proved('never allow when label tier = untrusted and access = write and path ~ "/shared/**"')).toBe('counterexample'); // risky allows SYS_SPAWN to anyone
    expect(await proved('never allow when syscall in [SYS_OPEN, SYS_EXEC] and label tier = untrusted and access = write and path ~ "/shared/**"')).toBe('proved');
    expect(await proved('never allow when syscall = SYS_OPEN and path ~ "/agent/*/secrets/**"')).toBe('proved');
    expect(await proved('always deny when syscall = SYS_EXEC and arg url contains "evil.com"')).toBe('proved');
    expect(await proved('always deny when syscall = SYS_EXEC and tool = http.get and not arg url ~ "https://*.example.com/**"')).toBe('counterexample');
    // office asks on Monday and Tuesday, 09:00–17:00 in Paris: a counterexample at such a moment; otherwise shell.run is denied.
    expect(await proved('always deny when syscall = SYS_EXEC and tool = shell.run')).toBe('counterexample');
    expect(await proved('always deny or require_approval when syscall = SYS_EXEC and tool = shell.run')).toBe('proved');
    expect(await proved('never allow when syscall = SYS_OPEN and not path ~ "/agent/${agent}/**"')).toBe('proved');
  });

  it('refuses a claim that does not parse, saying where', () => {
    expect(refused('sometimes deny')).toBe("expected 'always' or 'never' at character 1, found 'sometimes'");
    expect(refused('always allow or')).toMatch(/the claim ends where 'allow' or 'require_approval' or 'deny' was expected/);
    expect(refused('never allow when access = maybe')).toBe("access is read, write or none, not 'maybe'");
    expect(refused('never allow when arg x ~ "[z-a]"')).toMatch(/glob "\[z-a\]": range z-a is backwards/);
    expect(refused('never allow when trust < lots')).toBe("trust compares with a whole number, not 'lots'");
    expect(refused('never allow when trust < 0x10')).toBe("trust compares with a whole number, not '0x10'");
    expect(refused('never allow when syscall = SYS_READ  ')).toBe('parsed');
    expect(refused('never deny when path ~ "/a/[${agent}]/x"')).toMatch(/placeholder '\$\{agent\}' inside a character class/);
    expect(refused('never allow when path ~ "/a" or tool = x')).toBe("expected 'and' or the end of the claim at character 30, found 'or'");
  });
});

describe('found by an attacker’s pass over the analysis (each answered wrongly before)', () => {
  it('a regex with "." or a negated class on text with a surrogate pair (one character to RE2): a counterexample, not a proof', async () => {
    const policy = load([{ id: 'one-char', effect: 'allow', syscalls: ['SYS_OPEN'], args: [{ arg: 'x', regex: '^[^/]$' }] }]);
    const r = await proveClaim(policy, parseClaim('never allow when arg x = "😀"'), solver);
    expect(r.verdict).toBe('counterexample');
    expect(decideWitness(policy, r.counterexample!.witness)).toMatchObject({ effect: 'allow', rule: 'one-char' });
    expect(r.approximations.join('\n')).toMatch(/exact for text without characters outside the Basic Multilingual Plane/);
  });

  it('a deny regex also matches an argument past MATCH_LIMIT: the claim is refuted with such an argument', async () => {
    const policy = load([
      { id: 'allow-open', effect: 'allow', syscalls: ['SYS_OPEN'] },
      { id: 'deny-zzz', effect: 'deny', syscalls: ['SYS_OPEN'], args: [{ arg: 'x', regex: '^zzz' }] },
    ]);
    const r = await proveClaim(policy, parseClaim('never deny when syscall = SYS_OPEN and arg x ~ "a*" and not flow vfs-to-exec'), solver);
    expect(r.verdict).toBe('counterexample');
    expect(decideWitness(policy, r.counterexample!.witness)).toMatchObject({ effect: 'deny', rule: 'deny-zzz' });
    // Pinned to a short text, the same argument cannot be past the limit: proved, not unknown.
    expect((await proveClaim(policy, parseClaim('never deny when syscall = SYS_OPEN and arg x = "b" and not flow vfs-to-exec'), solver)).verdict).toBe('proved');
  });

  it('a path glob reads no argument path outside the canonical form: a deny glob matches it, an allow glob does not (the model as the engine)', async () => {
    const denies = load([
      { id: 'no-etc', effect: 'deny', syscalls: ['SYS_EXEC'], args: [{ arg: 'path', glob: '/etc/**' }] },
      { id: 'exec', effect: 'allow', syscalls: ['SYS_EXEC'] },
    ]);
    const refuted = await proveClaim(denies, parseClaim('never deny when syscall = SYS_EXEC and arg path ~ "/data/**" and not flow vfs-to-exec'), solver);
    expect(refuted.verdict).toBe('counterexample');
    expect(decideWitness(denies, refuted.counterexample!.witness)).toMatchObject({ effect: 'deny', rule: 'no-etc' });
    const allows = load([{ id: 'data', effect: 'allow', syscalls: ['SYS_EXEC'], args: [{ arg: 'path', glob: '/data/**' }] }]);
    for (const spelling of ['contains "/../"', 'contains "/./"', 'contains "//"', '= "/data/x/"']) {
      const r = await proveClaim(allows, parseClaim(`never allow when arg path ${spelling}`), solver);
      expect({ spelling, verdict: r.verdict }).toEqual({ spelling, verdict: 'proved' });
    }
    expect((await proveClaim(allows, parseClaim('never allow when arg path ~ "/data/x"'), solver)).verdict).toBe('counterexample');
  }, 60_000);

  it('diff sees a limit changed on a rule that keeps its id (the counts are the engine’s, by rule id)', async () => {
    const a = load([{ id: 'r', effect: 'allow', syscalls: ['SYS_OPEN'], limits: { max_calls: 5 } }]);
    const b = load([{ id: 'r', effect: 'allow', syscalls: ['SYS_OPEN'], limits: { max_calls: 10 } }], undefined, 'b.json');
    const r = await diffPolicies(a, b, solver);
    expect(r.classes.map((c) => `${c.direction} ${c.before.rule} → ${c.after.rule}`)).toEqual(['deny→allow r → r']);
    const calls = r.classes[0]!.witness.counts!['calls:r']!;
    expect(calls >= 5 && calls < 10).toBe(true);
  });

  it('an argument is compared by its text, as rules read it; ${agent} inside a class is refused when the policy loads', async () => {
    const claim = parseClaim('never allow when not arg n = "5"');
    expect(holds(claim, { request: { agent: 'a', syscall: 'x.act', args: { n: 5 } }, at: '2026-01-05T12:00:00.000Z' })).toBe(false);
    expect(() => load([{ id: 'd', effect: 'deny', paths: ['/x/[${agent}]/**'] }])).toThrow(/placeholder '\$\{agent\}' inside a character class/);
  });
});

const AGENTS = ['ann', 'bob', 'agent-1'];
const PATH_GLOBS = ['/agent/${agent}/**', '/agent/*/mem/**', '/shared/**', '/shared/*.txt', '/agent/${agent}/mem/a.txt', '/agent/bob/**'];
const PATHS = ['/agent/ann/mem/a.txt', '/agent/bob/mem/a.txt', '/agent/bob/x', '/shared/r.txt', '/shared/d/r.md', '/agent/agent-1/mem/z', '/agent/ann'];
const TOOLS = ['http.get', 'http.post', 'shell.run'];
const URLS = ['https://a.example.com/x', 'https://a.example.com', 'https://evil.net/p', 'ftp://a.example.com/f', 'https://b.example.org/'];

/** generated is a random policy over a small vocabulary, so that random requests often meet its rules. */
function generated(rand: () => number, n: number, name: string): LoadedPolicy {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
  const rules: PolicyRule[] = [];
  for (let i = 0; i < n; i++) {
    const effect = pick(['allow', 'allow', 'deny', 'require_approval'] as const);
    const exec = rand() < 0.5;
    const rule: PolicyRule = { id: `r${i}`, effect, syscalls: exec ? ['SYS_EXEC'] : [pick(['SYS_OPEN', 'SYS_STAT']), ...(rand() < 0.3 ? ['SYS_OPEN'] : [])] };
    if (rand() < 0.3) rule.labels = { team: pick(['t1', 't2', 't*']) };
    if (rand() < 0.2) rule.agents = [pick(AGENTS)];
    if (rand() < 0.3) rule.access = [pick(['read', 'write'] as const)];
    if (exec) {
      if (rand() < 0.7) rule.tools = [pick(['http.*', 'http.get', 'shell.run'])];
      if (rand() < 0.6) rule.args = [rand() < 0.5 ? { arg: 'url', glob: pick(['https://*.example.com/**', 'https://a.example.com/**', '**evil**']) } : rand() < 0.5 ? { arg: 'url', regex: pick(['^https://[a-z]+\\.example\\.(com|org)/', 'evil\\.net', '^ftp:']) } : { arg: 'url', equals: pick(URLS) }];
    } else if (rand() < 0.8) rule.paths = [pick(PATH_GLOBS)];
    // Time windows, limits used up from the start, trust and risk: the parts of a decision beyond matching.
    if (rand() < 0.15) rule.when = pick([{ days: ['mon'], hours: '09:00-12:00' }, { hours: '22:00-06:00', timezone: 'America/New_York' }] as const) as PolicyRule['when'];
    if (rand() < 0.1 && effect !== 'deny') rule.limits = { max_calls: 0 };
    if (rand() < 0.1) rule.trust = { below: 500 };
    if (rand() < 0.1 && effect === 'allow') rule.risk = 'critical';
    rules.push(rule);
  }
  return load(rules, { escalate_risk: 'high' }, name);
}

/** Monday 10:00 UTC, Tuesday 04:00 UTC (Monday 23:00 in New York), Wednesday 15:00 UTC. */
const MOMENTS = ['2026-01-05T10:00:00.000Z', '2026-01-06T04:00:00.000Z', '2026-01-07T15:00:00.000Z'];

/** requestsFor is a spread of requests over the same vocabulary, as witnesses. */
function requestsFor(rand: () => number, count: number): Witness[] {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
  return Array.from({ length: count }, () => {
    const exec = rand() < 0.5;
    const team = rand() < 0.7 ? { labels: { team: pick(['t1', 't2', 't3']) } } : {};
    return {
      request: exec
        ? { agent: pick(AGENTS), ...team, syscall: 'SYS_EXEC', access: pick(['read', 'write', 'none'] as const), tool: pick(TOOLS), ...(rand() < 0.8 ? { args: { url: pick(URLS) } } : {}) }
        : { agent: pick(AGENTS), ...team, syscall: pick(['SYS_OPEN', 'SYS_STAT']), access: pick(['read', 'write'] as const), path: pick(PATHS), ...(rand() < 0.2 ? { trust: 300 } : {}) },
      at: pick(MOMENTS),
    };
  });
}

describe('the analysis agrees with the engine over many generated policies', () => {
  it('analyze: no request is decided by a rule called dead or shadowed; every pair matching one request is a conflict; every witness holds', async () => {
    const rand = prng(7);
    for (let p = 0; p < 12; p++) {
      const policy = generated(rand, 8, `gen-${p}.json`);
      const r = await analyzePolicy(policy, solver);
      checkReport(policy, r);
      const never = new Set([...r.dead.map((d) => d.id), ...r.shadowed.map((s) => s.rule.id)]);
      const conflicts = new Set(r.conflicts.map((c) => `${c.deny.id}/${c.rule.id}`));
      const effects = new Map(policy.document.rules.map((rule) => [rule.id, rule.effect]));
      for (const w of requestsFor(rand, 150)) {
        const d = decideWitness(policy, w);
        expect(never.has(d.rule), `gen-${p}: ${d.rule} decided ${JSON.stringify(w.request)}`).toBe(false);
        const matched = matching(policy, w);
        for (const deny of matched.filter((id) => effects.get(id) === 'deny')) {
          for (const other of matched.filter((id) => effects.get(id) !== 'deny')) expect(conflicts.has(`${deny}/${other}`), `gen-${p}: ${deny}/${other} on ${JSON.stringify(w.request)}`).toBe(true);
        }
      }
    }
  }, 120_000);

  it('diff: every request two policies decide differently falls in a class found, and every class’s witness is decided as stated', async () => {
    const rand = prng(11);
    for (let p = 0; p < 10; p++) {
      const a = generated(rand, 6, `a-${p}.json`);
      // The candidate: the same rules with one dropped and one new one put first.
      const rules = [...generated(rand, 1, 'x.json').document.rules.map((r) => ({ ...r, id: 'new' })), ...a.document.rules.filter((_, i) => i !== p % 6)];
      const b = load(rules, { escalate_risk: 'high' }, `b-${p}.json`);
      const r = await diffPolicies(a, b, solver, 200);
      expect(r.truncated).toBe(false);
      for (const c of r.classes) {
        expect(decideWitness(a, c.witness)).toMatchObject(c.before);
        expect(decideWitness(b, c.witness)).toMatchObject(c.after);
      }
      const found = new Set(r.classes.map((c) => `${c.before.rule}→${c.after.rule}`));
      for (const w of requestsFor(rand, 150)) {
        const before = decideWitness(a, w);
        const after = decideWitness(b, w);
        if (before.effect !== after.effect) expect(found.has(`${before.rule}→${after.rule}`), `diff-${p}: ${before.rule}→${after.rule} on ${JSON.stringify(w.request)}; A ${JSON.stringify(a.document.rules)} B ${JSON.stringify(b.document.rules)}; found ${[...found].join(' ')}`).toBe(true);
      }
    }
  }, 120_000);

  it('prove: no claim is proved that a request breaks, and every counterexample breaks it', async () => {
    const rand = prng(5);
    const claims = ['never allow when syscall = SYS_OPEN and access = write', 'always deny when syscall = SYS_EXEC and tool = shell.run', 'never allow when label team = t2 and path ~ "/shared/**"', 'always deny when syscall = SYS_EXEC and not arg url ~ "https://*.example.com/**"', 'never require_approval when agent = bob'];
    for (let p = 0; p < 8; p++) {
      const policy = generated(rand, 6, `claims-${p}.json`);
      const requests = requestsFor(rand, 150);
      for (const text of claims) {
        const claim = parseClaim(text);
        const r = await proveClaim(policy, claim, solver);
        const breaks = (w: Witness) => holds(claim, w) && (claim.quantifier === 'always' ? !claim.effects.includes(decideWitness(policy, w).effect) : claim.effects.includes(decideWitness(policy, w).effect));
        if (r.verdict === 'proved') for (const w of requests) expect(breaks(w), `claims-${p}: "${text}" proved, broken by ${JSON.stringify(w.request)}`).toBe(false);
        if (r.verdict === 'counterexample') expect(breaks(r.counterexample!.witness)).toBe(true);
        expect(r.verdict).not.toBe('unknown');
      }
    }
  }, 120_000);
});

describe('the CLI', () => {
  it('analyze, diff and prove print their reports and exit by what they found; bad input is one line and status 2', async () => {
    const policy = files.write('hand.json', JSON.stringify({ version: 1, rules: HAND }));
    const copy = files.write('copy.json', JSON.stringify({ version: 1, rules: HAND }));
    const analyzed = await agentctl(['policy', 'analyze', policy]);
    expect(analyzed.status).toBe(1);
    expect(analyzed.stdout).toMatch(/1 dead rule, 2 shadowed rules, 5 conflicting pairs/);
    expect(analyzed.stdout).toContain('rules[2] never (allow): deny-secrets (deny) decides instead');
    expect(analyzed.stdout).toContain('Every rule is modelled exactly.');
    const json = JSON.parse((await agentctl(['policy', 'analyze', policy, '--json'])).stdout) as AnalysisReport;
    expect(json.dead.map((d) => d.id)).toEqual(['dead']);
    expect((await agentctl(['policy', 'diff', policy, copy])).status).toBe(0);
    const proved = await agentctl(['policy', 'prove', policy, 'never allow when syscall = SYS_OPEN and path ~ "/agent/*/secrets/**"']);
    expect([proved.status, proved.stdout.split('\n')[0]]).toEqual([0, 'proved: never allow when syscall = SYS_OPEN and path ~ "/agent/*/secrets/**"']);
    const refuted = await agentctl(['policy', 'prove', policy, 'always deny when tool = http.get']);
    expect(refuted.status).toBe(1);
    expect(refuted.stdout).toMatch(/the engine decides: allow by fetch/);
    for (const [args, message] of [
      [['policy', 'prove', policy, 'maybe deny'], /^agentctl: claim: expected 'always' or 'never' at character 1, found 'maybe'$/],
      [['policy', 'analyze', files.write('bad.yaml', 'version: 1\nrules:\n  - { id: x, effect: maybe }\n')], /bad\.yaml:3/],
      [['policy', 'diff', policy, `${files.dir}/none.yaml`], /none\.yaml: no such file or directory/],
      [['policy', 'analyze', policy, '--show', 'all'], /--show takes a count, not 'all'/],
    ] as const) {
      const r = await agentctl([...args]);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr.trim(), args.join(' ')).toMatch(message);
    }
  }, 60_000);
});
