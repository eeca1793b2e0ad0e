/**
 * Policy semantics on the engine itself, with a fake clock: combining
 * effects, each matcher, limits, time windows, versions and explain().
 */
import { describe, expect, it } from 'vitest';
import { PolicyEngine } from '../../kernel/policy/engine.ts';
import { parsePolicy, type LoadedPolicy } from '../../kernel/policy/load.ts';
import type { PolicyRequest } from '../../abi/policy-request.ts';
import type { PolicyRule } from '../../kernel/policy/schema.ts';

/** Monday 23 November 2026, 00:00 UTC (New York is UTC-5 then). */
const MONDAY = Date.UTC(2026, 10, 23);
const HOUR = 3_600_000;
const MINUTE = 60_000;

function load(rules: readonly PolicyRule[], defaults?: { approval_timeout_ms: number }): LoadedPolicy {
  return parsePolicy(JSON.stringify({ version: 1, ...(defaults ? { defaults } : {}), rules }), 'test.json');
}

/** engineFor returns an engine over `rules` and a settable fake clock. */
function engineFor(rules: readonly PolicyRule[], start = MONDAY): { engine: PolicyEngine; clock: { now: number } } {
  const clock = { now: start };
  return { engine: new PolicyEngine(load(rules), () => clock.now), clock };
}

function req(fields: Partial<PolicyRequest> = {}): PolicyRequest {
  return { agentId: 'a', syscall: 'SYS_OPEN', access: 'read', path: '/agent/a/mem/x', ...fields };
}

const effectOf = (engine: PolicyEngine, request: PolicyRequest = req()) => {
  const d = engine.decide(request);
  return [d.effect, d.rule];
};

/** allows answers, for each request, whether a single allow rule with `fields` matches it. */
function allows(fields: Partial<PolicyRule>, requests: readonly PolicyRequest[]): boolean[] {
  const engine = new PolicyEngine(load([{ id: 'm', effect: 'allow', ...fields }]));
  return requests.map((r) => engine.decide(r).effect === 'allow');
}

/** exec is a SYS_EXEC request for `tool` with `args`. */
function exec(tool: string, args: Record<string, unknown>): PolicyRequest {
  return req({ syscall: 'SYS_EXEC', tool, args });
}

/** limited is an engine with one allow rule for SYS_OPEN under `limits`. */
function limited(limits: PolicyRule['limits']): ReturnType<typeof engineFor> {
  return engineFor([{ id: 'lim', effect: 'allow', syscalls: ['SYS_OPEN'], limits }]);
}

/** allowedAt answers, at each time, whether a rule allowing anything within `when` lets a call through. */
function allowedAt(when: PolicyRule['when'], times: readonly number[]): boolean[] {
  const { engine, clock } = engineFor([{ id: 'office', effect: 'allow', when }]);
  return times.map((t) => {
    clock.now = t;
    return engine.decide(req()).effect === 'allow';
  });
}

describe('combining effects: deny overrides, no match means deny', () => {
  const RULES = { allow: { id: 'r-allow', effect: 'allow' }, require_approval: { id: 'r-ask', effect: 'require_approval' }, deny: { id: 'r-deny', effect: 'deny' } } as const;
  const TABLE: readonly [matching: readonly (keyof typeof RULES)[], effect: string, rule: string][] = [
    [[], 'deny', 'default-deny'],
    [['allow'], 'allow', 'r-allow'],
    [['require_approval'], 'require_approval', 'r-ask'],
    [['deny'], 'deny', 'r-deny'],
    [['allow', 'deny'], 'deny', 'r-deny'],
    [['allow', 'require_approval'], 'require_approval', 'r-ask'],
    [['require_approval', 'deny'], 'deny', 'r-deny'],
    [['allow', 'require_approval', 'deny'], 'deny', 'r-deny'],
  ];

  it.each(TABLE)('matching %j → %s by %s, in either document order', (matching, effect, rule) => {
    const rules: PolicyRule[] = matching.map((m) => ({ ...RULES[m], syscalls: ['SYS_OPEN'] }));
    // Rules that match nothing never change the outcome.
    rules.push({ id: 'other-deny', effect: 'deny', syscalls: ['SYS_UNLINK'] }, { id: 'other-allow', effect: 'allow', agents: ['zed'] });
    for (const order of [rules, rules.toReversed()]) {
      const d = new PolicyEngine(load(order)).decide(req());
      expect([d.effect, d.rule]).toEqual([effect, rule]);
      if (rule === 'default-deny') expect(d.reason).toBe('no rule matches');
    }
  });

  it('among rules of one effect, the first in the document decides', () => {
    const { engine } = engineFor([{ id: 'first', effect: 'allow', syscalls: ['*'] }, { id: 'second', effect: 'allow', syscalls: ['SYS_OPEN'] }]);
    expect(effectOf(engine)).toEqual(['allow', 'first']);
  });

  it('decisions carry on_violation, risk, reason and the approval timeout', () => {
    const { engine } = engineFor([
      { id: 'ask', effect: 'require_approval', syscalls: ['SYS_UNLINK'], risk: 'medium', reason: 'ask first' },
      { id: 'never', effect: 'deny', syscalls: ['SYS_EXEC'], on_violation: 'SIGPOLICY', risk: 'high' },
    ]);
    expect(engine.decide(req({ syscall: 'SYS_UNLINK' }))).toMatchObject({ effect: 'require_approval', reason: 'ask first', risk: 'medium', approvalTimeoutMs: 60_000 });
    expect(engine.decide(req({ syscall: 'SYS_EXEC', tool: 't' }))).toMatchObject({ effect: 'deny', reason: 'denied by rule never', onViolation: 'SIGPOLICY', risk: 'high' });
    const timed = new PolicyEngine(load([{ id: 'ask', effect: 'require_approval' }], { approval_timeout_ms: 250 }));
    expect(timed.decide(req()).approvalTimeoutMs).toBe(250);
  });
});

describe('matchers', () => {
  it('syscalls: names, * and lower-case action names', () => {
    expect(allows({ syscalls: ['SYS_OPEN', 'SYS_STAT'] }, [req(), req({ syscall: 'SYS_STAT' }), req({ syscall: 'SYS_UNLINK' })])).toEqual([true, true, false]);
    expect(allows({ syscalls: ['*'] }, [req(), req({ syscall: 'SYS_EXIT' }), req({ syscall: 'http.request' })])).toEqual([true, true, true]);
    expect(allows({ syscalls: ['http.request'] }, [req({ syscall: 'http.request' }), req()])).toEqual([true, false]);
  });

  it('agents: globs on the agent id', () => {
    const who = ['worker-1', 'worker-22', 'boss', 'worker', 'x-worker-1'].map((agentId) => req({ agentId }));
    expect(allows({ agents: ['worker-*', 'boss'] }, who)).toEqual([true, true, true, false, false]);
  });

  it('labels: every listed label must be present and match its glob', () => {
    const labels: Record<string, string>[] = [{ team: 'research', env: 'prod-eu' }, { team: 'research', env: 'dev' }, { team: 'research' }, { team: 'sales', env: 'prod' }, {}];
    expect(allows({ labels: { team: 'research', env: 'prod*' } }, labels.map((l) => req({ labels: l })))).toEqual([true, false, false, false, false]);
    expect(allows({ labels: { team: 'research' } }, [req()])).toEqual([false]);
  });

  it('capabilities: the agent must hold all of them', () => {
    const held = [['tool:search', 'vfs:/shared:ro'], ['tool:search'], ['vfs:/shared:ro'], []].map((c) => req({ capabilities: new Set(c) }));
    expect(allows({ capabilities: ['tool:search', 'vfs:/shared:ro'] }, held)).toEqual([true, false, false, false]);
  });

  it('paths: globs on the resolved path, ${agent} is the caller', () => {
    const rule = { paths: ['/agent/${agent}/mem/**', '/shared/*.txt'] };
    const cases = [
      req({ agentId: 'a', path: '/agent/a/mem/x/y' }),
      req({ agentId: 'b', path: '/agent/b/mem/x' }),
      req({ agentId: 'a', path: '/agent/b/mem/x' }),
      req({ agentId: 'a', path: '/agent/a/state/x' }),
      req({ agentId: 'a', path: '/shared/notes.txt' }),
      req({ agentId: 'a', path: '/shared/deep/notes.txt' }),
      { agentId: 'a', syscall: 'SYS_OPEN' },
    ];
    expect(allows(rule, cases)).toEqual([true, true, false, false, true, false, false]);
  });

  it('access: read, write or none (a request without access is none)', () => {
    const cases = [req({ access: 'read' }), req({ access: 'write' }), { agentId: 'a', syscall: 'SYS_GETPID' }];
    expect(allows({ access: ['read'] }, cases)).toEqual([true, false, false]);
    expect(allows({ access: ['write', 'none'] }, cases)).toEqual([false, true, true]);
  });

  it('tools: globs and literals on the tool name; no tool, no match', () => {
    const tools = ['http.fetch', 'http.post', 'shell.exec', undefined].map((tool) => req({ syscall: 'SYS_EXEC', ...(tool ? { tool } : {}) }));
    expect(allows({ tools: ['http.*'] }, tools)).toEqual([true, true, false, false]);
    expect(allows({ tools: ['shell.exec'] }, tools)).toEqual([false, false, true, false]);
  });

  it('args: equals, contains, glob and regex, each on its named argument only', () => {
    const cases = [exec('http.fetch', { url: 'https://example.com/a', note: 'x' }), exec('http.fetch', { url: 'http://example.com/a', note: 'https://decoy' }), exec('http.fetch', { note: 'https://example.com' })];
    expect(allows({ args: [{ arg: 'url', equals: 'https://example.com/a' }] }, cases)).toEqual([true, false, false]);
    expect(allows({ args: [{ arg: 'url', contains: 'https://' }] }, cases)).toEqual([true, false, false]);
    expect(allows({ args: [{ arg: 'url', glob: 'https://*.com/**' }] }, cases)).toEqual([true, false, false]);
    expect(allows({ args: [{ arg: 'url', regex: '^https://[a-z.]+/' }] }, cases)).toEqual([true, false, false]);
    expect(allows({ args: [{ arg: 'note', regex: 'https' }] }, cases)).toEqual([false, true, true]);
  });

  it('args: every pattern must match; numbers and objects are matched as text', () => {
    const rule = { args: [{ arg: 'limit', equals: '3' }, { arg: 'opts', contains: '"dry":true' }] };
    const cases = [exec('t', { limit: 3, opts: { dry: true } }), exec('t', { limit: 4, opts: { dry: true } }), exec('t', { limit: 3, opts: { dry: false } }), exec('t', { limit: 3 })];
    expect(allows(rule, cases)).toEqual([true, false, false, false]);
  });
});

describe('the rule index', () => {
  it('is bounded by the policy, not by the tool and syscall names agents send (found by the attacker pass: one index per agent-chosen tool name, 100,000 of them, hundreds of MiB)', () => {
    const rules: PolicyRule[] = [
      { id: 'fetch', effect: 'allow', syscalls: ['SYS_EXEC'], tools: ['http.fetch'] },
      { id: 'any-tool', effect: 'require_approval', syscalls: ['SYS_EXEC'], tools: ['shell.*'] },
      ...Array.from({ length: 50 }, (_, i): PolicyRule => ({ id: `r${i}`, effect: 'deny', syscalls: ['SYS_EXEC'], tools: [`t${i}`] })),
    ];
    const { compiled } = load(rules);
    const unnamed = Array.from({ length: 1000 }, (_, i) => compiled.relevant('SYS_EXEC', `made-up-${i}`));
    // Every tool the policy does not name shares one index (the same array)…
    expect(new Set(unnamed).size).toBe(1);
    expect(unnamed[0]!.map((r) => r.id)).toEqual(['any-tool']);
    // …as does every syscall it does not name; named ones still get theirs.
    expect(compiled.relevant('made.up.action', 'x')).toBe(compiled.relevant('other.action', 'y'));
    expect(compiled.relevant('SYS_EXEC', 'http.fetch').map((r) => r.id)).toEqual(['fetch', 'any-tool']);
    expect(compiled.relevant('SYS_EXEC', 't7').map((r) => r.id)).toEqual(['any-tool', 'r7']);
  });
});

describe('the rule index agrees with the rules', () => {
  it('an argument glob ending in /** also matches the text before it, through the index as through the rule (found by policy analyze: the index wanted a "/" after the prefix, so the allow never decided)', () => {
    const rules: PolicyRule[] = [{ id: 'api', effect: 'allow', syscalls: ['SYS_EXEC'], tools: ['http.get'], args: [{ arg: 'url', glob: 'https://api.example.com/**' }] }];
    const engine = new PolicyEngine(load(rules));
    const decide = (url: string) => engine.decide(exec('http.get', { url })).effect;
    expect(['https://api.example.com', 'https://api.example.com/', 'https://api.example.com/v1/x'].map(decide)).toEqual(['allow', 'allow', 'allow']);
    expect(['https://api.example.comX', 'https://api.example.co', 'http://api.example.com'].map(decide)).toEqual(['deny', 'deny', 'deny']);
    expect(engine.explain(exec('http.get', { url: 'https://api.example.com' })).rules[0]!.matched).toBe(true);
  });
});

/** agrees checks each rule alone: the index's answer (check) against every condition tried on the request (explain's trace, which skips the index). */
function agrees(rule: PolicyRule, requests: readonly PolicyRequest[]): void {
  const engine = new PolicyEngine(load([rule]));
  for (const request of requests) {
    const byConditions = engine.explain(request).rules[0]!.conditions.every((c) => c.matched);
    expect({ rule: rule.id, request, allowed: engine.check(request).effect === 'allow' }).toEqual({ rule: rule.id, request, allowed: byConditions });
  }
}

describe('the rule index never drops a rule that matches', () => {
  it('path rules: literal segments, ${agent} segments, an "@" (a pattern, never a key), globs, exact paths and trailing slashes', () => {
    const globs = ['/agent/${agent}/mem/**', '/agent/@/x/**', '/agent/${agent}', '/agent/*/mem/**', '/shared/data/*', '/a/b', '/a/b/', '/**', '/agent/${agent}/**', '/'];
    const paths = ['/agent/a/mem/x', '/agent/@/x/y', '/agent/b/mem', '/agent/a', '/agent/@', '/agent/a/', '/shared/data/f', '/shared/data/', '/a/b', '/a/b/', '/', '/agent//mem/x', 'agent/a/mem/x'];
    const requests = ['a', '@', 'b', 'agent'].flatMap((agentId) => paths.map((path) => req({ agentId, path })));
    for (const [i, glob] of globs.entries()) agrees({ id: `p${i}`, effect: 'allow', paths: [glob] }, requests);
  });

  it('path globs with empty segments or a NUL, and agent ids outside the kernel\'s format (an operator may ask /v1/evaluate about any id) (found by the attacker pass: each of these dropped a matching rule, so a deny did not decide)', () => {
    const globs = ['//a', '/a//b/*', '/x_1/${agent}//${agent}/', '/a/\u0000/*', '/x/${agent}', '/x/${agent}/**', '/${agent}/${agent}/${agent}', '/x/${agent}/mem/**'];
    const paths = ['//a', '/a//b/c', '/x_1/a//a/', '/a/\u0000/c', '/x/@', '/x/y', '/x/a/b/c', '/x/a/c', '///a/b/c', '/x/a/b/mem/f', '/x/a/mem/f'];
    const requests = ['a', '?', '*', 'a/b', '{a,b}', '**', '@', '', '.a'].flatMap((agentId) => paths.map((path) => req({ agentId, path })));
    for (const [i, glob] of globs.entries()) agrees({ id: `q${i}`, effect: 'allow', paths: [glob] }, requests);
  });

  it('argument rules: exact values and /-bounded prefixes', () => {
    const urls = ['https://h.example', 'https://h.example/', 'https://h.example/v1/x', 'https://h.exampleX/v1', 'https://h.exampl', 'http://h.example/v1', 'https://h.example/v1'];
    const requests = urls.map((url) => exec('http.get', { url }));
    agrees({ id: 'eq', effect: 'allow', args: [{ arg: 'url', equals: 'https://h.example/v1' }] }, requests);
    agrees({ id: 'all', effect: 'allow', args: [{ arg: 'url', glob: 'https://h.example/**' }] }, requests);
    agrees({ id: 'v1', effect: 'allow', args: [{ arg: 'url', glob: 'https://h.example/v1/*' }] }, requests);
  });

  it('argument rules keyed by the text their values start with: anchored regexes, glob heads, a trailing /** and values past the match limit', () => {
    const cmds = ['git status', 'git status --short', 'git', 'git push', 'gi', 'rm -rf /', 'rm', 'rmdir x', 'ac', 'abbbc', 'x/y', 'x', '', 'xy', ' git status', 'a/b/c', 'a@', 'a@/x', '/x', `rm${'x'.repeat(9000)}`, `zz${'x'.repeat(9000)}`];
    const requests = cmds.map((cmd) => exec('shell.run', { cmd }));
    const patterns: NonNullable<PolicyRule['args']>[] = [
      [{ arg: 'cmd', regex: '^git (status|log)( |$)' }],
      [{ arg: 'cmd', regex: '^rm( |$)' }],
      [{ arg: 'cmd', regex: '^ab*c' }],
      [{ arg: 'cmd', glob: 'rm *' }],
      [{ arg: 'cmd', glob: 'git' }],
      [{ arg: 'cmd', glob: 'x/**' }],
      [{ arg: 'cmd', glob: '/**' }],
      [{ arg: 'cmd', glob: 'a{/b,x}/**' }],
      // A trailing /** made by braces (found by the attacker pass: the head kept its '/', so `a@` never reached the rule).
      [{ arg: 'cmd', glob: '/{**,x}' }],
      [{ arg: 'cmd', glob: 'a@/{x,**}' }],
    ];
    for (const [i, args] of patterns.entries()) agrees({ id: `s${i}`, effect: 'allow', args }, requests);
    // Several heads of different lengths under one argument (the index cuts values at the shortest), and values past MATCH_LIMIT, which every such deny matches (fail closed).
    const rules: PolicyRule[] = [...patterns.map((args, i): PolicyRule => ({ id: `d${i}`, effect: 'deny', args })), { id: 'rest', effect: 'allow' }];
    const engine = new PolicyEngine(load(rules));
    for (const request of requests) {
      const denied = engine.explain(request).rules.some((r) => r.effect === 'deny' && r.conditions.every((c) => c.matched));
      expect({ cmd: String(request.args!['cmd']).slice(0, 20), effect: engine.check(request).effect }).toEqual({ cmd: String(request.args!['cmd']).slice(0, 20), effect: denied ? 'deny' : 'allow' });
    }
    expect(engine.check(requests.at(-1)!)).toMatchObject({ effect: 'deny' });
  });

  it('an anchored regex whose top-level | hides in a class starting with ], a POSIX class or a \\Q…\\E quote has no literal head (found by the attacker pass: the head `rm` kept `curl` from a deny that matches it)', () => {
    for (const regex of ['^rm[](]|curl', '^rm[^](]|curl', '^rm\\Q(\\E|curl', '^rm[[:alpha:](]|curl']) {
      const engine = new PolicyEngine(load([{ id: 'no', effect: 'deny', args: [{ arg: 'cmd', regex }] }, { id: 'rest', effect: 'allow' }]));
      expect({ regex, rule: engine.check(exec('shell.run', { cmd: 'curl' })).rule }).toEqual({ regex, rule: 'no' });
    }
  });
});

describe('limits, with a fake clock', () => {
  it('max_calls: the N+1th call is denied, per agent', () => {
    const { engine } = limited({ max_calls: 3 });
    expect([1, 2, 3, 4, 5].map(() => engine.decide(req()).effect)).toEqual(['allow', 'allow', 'allow', 'deny', 'deny']);
    expect(engine.decide(req())).toMatchObject({ effect: 'deny', rule: 'lim', reason: 'limit: max_calls 3 reached' });
    expect(engine.decide(req({ agentId: 'b', path: '/agent/b/x' })).effect).toBe('allow');
  });

  it('rate per second: a sliding window, denied at the N+1th call, allowed once the oldest call leaves the window', () => {
    const { engine, clock } = limited({ rate: { count: 2, per: 'second' } });
    const at = (t: number) => {
      clock.now = MONDAY + t;
      return engine.decide(req()).effect;
    };
    expect([at(0), at(100), at(200), at(999)]).toEqual(['allow', 'allow', 'deny', 'deny']);
    expect(engine.decide(req()).reason).toBe('limit: rate 2 per second exceeded');
    // The window slides: 1000 is a full second after 0, but 1050 is not after 100.
    expect([at(1000), at(1050), at(1100), at(1101)]).toEqual(['allow', 'deny', 'allow', 'deny']);
  });

  it('rate per minute', () => {
    const { engine, clock } = limited({ rate: { count: 3, per: 'minute' } });
    const at = (t: number) => {
      clock.now = MONDAY + t;
      return engine.decide(req()).effect;
    };
    expect([at(0), at(10_000), at(20_000), at(30_000), at(MINUTE - 1), at(MINUTE), at(MINUTE + 1)]).toEqual(['allow', 'allow', 'allow', 'deny', 'deny', 'allow', 'deny']);
  });

  it('token_budget: tokens reported through engine.counters.addTokens', () => {
    const { engine } = limited({ token_budget: 100 });
    engine.counters.addTokens('a', 60);
    expect(engine.decide(req()).effect).toBe('allow');
    engine.counters.addTokens('a', 40);
    expect(engine.decide(req())).toMatchObject({ effect: 'deny', rule: 'lim', reason: 'limit: token budget 100 used up' });
    expect(engine.counters.tokensUsed('a')).toBe(100);
    expect(engine.decide(req({ agentId: 'b', path: '/agent/b/x' })).effect).toBe('allow');
  });

  it('check() and explain() never count; decide() does', () => {
    const { engine } = limited({ max_calls: 1 });
    for (let i = 0; i < 10; i++) {
      expect(engine.check(req()).effect).toBe('allow');
      expect(engine.explain(req()).decision.effect).toBe('allow');
    }
    expect(engine.decide(req()).effect).toBe('allow');
    expect(engine.check(req())).toMatchObject({ effect: 'deny', reason: 'limit: max_calls 1 reached' });
  });

  it('denied calls do not use up a limit', () => {
    const { engine } = engineFor([
      { id: 'lim', effect: 'allow', syscalls: ['SYS_OPEN'], limits: { max_calls: 2 } },
      { id: 'no-state', effect: 'deny', paths: ['/agent/*/state/**'] },
    ]);
    for (let i = 0; i < 5; i++) expect(effectOf(engine, req({ path: '/agent/a/state/x' }))).toEqual(['deny', 'no-state']);
    expect([effectOf(engine), effectOf(engine), effectOf(engine)]).toEqual([['allow', 'lim'], ['allow', 'lim'], ['deny', 'lim']]);
  });
});

describe('time windows, with a fake clock', () => {
  it('days and hours (UTC by default); the end of the range is exclusive', () => {
    const when: PolicyRule['when'] = { days: ['mon', 'tue', 'wed', 'thu', 'fri'], hours: '09:00-17:00' };
    const times = [MONDAY + 9 * HOUR, MONDAY + 16 * HOUR + 59 * MINUTE, MONDAY + 17 * HOUR, MONDAY + 8 * HOUR + 59 * MINUTE, MONDAY + 5 * 24 * HOUR + 10 * HOUR];
    expect(allowedAt(when, times)).toEqual([true, true, false, false, false]);
  });

  it('hours that wrap midnight', () => {
    const times = [21 * 60 + 59, 22 * 60, 23 * 60 + 30, 24 * 60 + 5 * 60 + 59, 24 * 60 + 6 * 60, 24 * 60 + 12 * 60].map((m) => MONDAY + m * MINUTE);
    expect(allowedAt({ hours: '22:00-06:00' }, times)).toEqual([false, true, true, true, false, false]);
    expect(allowedAt({ hours: '18:00-24:00' }, [MONDAY + 23 * HOUR + 59 * MINUTE, MONDAY + 24 * HOUR])).toEqual([true, false]);
  });

  it('a named time zone: America/New_York against UTC, in winter and in summer', () => {
    const ny = { hours: '09:00-17:00', timezone: 'America/New_York' };
    const utc = { hours: '09:00-17:00' };
    const winter = [MONDAY + 13 * HOUR + 30 * MINUTE, MONDAY + 21 * HOUR, MONDAY + 22 * HOUR];
    expect(allowedAt(ny, winter)).toEqual([false, true, false]);
    expect(allowedAt(utc, winter)).toEqual([true, false, false]);
    const july = Date.UTC(2026, 6, 1, 13, 30);
    expect([allowedAt(ny, [july]), allowedAt({ ...ny, timezone: 'UTC' }, [july])]).toEqual([[true], [true]]);
    expect(allowedAt(ny, [Date.UTC(2026, 6, 1, 12, 30)])).toEqual([false]);
  });

  it('days are taken in the rule’s time zone', () => {
    const earlyMondayUtc = MONDAY + 2 * HOUR;
    expect(allowedAt({ days: ['mon'] }, [earlyMondayUtc])).toEqual([true]);
    expect(allowedAt({ days: ['mon'], timezone: 'America/New_York' }, [earlyMondayUtc])).toEqual([false]);
    expect(allowedAt({ days: ['sun'], timezone: 'America/New_York' }, [earlyMondayUtc])).toEqual([true]);
  });
});

describe('versions and explain()', () => {
  it('every decision names its rule and the policy version', () => {
    const policy = load([{ id: 'r1', effect: 'allow', syscalls: ['SYS_OPEN'] }, { id: 'r2', effect: 'deny', syscalls: ['SYS_UNLINK'] }, { id: 'r3', effect: 'require_approval', syscalls: ['SYS_MKDIR'] }]);
    const engine = new PolicyEngine(policy);
    const decisions = ['SYS_OPEN', 'SYS_UNLINK', 'SYS_MKDIR', 'SYS_STAT'].map((syscall) => engine.decide(req({ syscall })));
    expect(decisions.map((d) => [d.rule, d.policyVersion])).toEqual([['r1', policy.version], ['r2', policy.version], ['r3', policy.version], ['default-deny', policy.version]]);
    const next = load([{ id: 'all', effect: 'allow' }]);
    engine.replace(next);
    expect(engine.decide(req())).toMatchObject({ rule: 'all', policyVersion: next.version });
    expect(next.version).not.toBe(policy.version);
  });

  it('traces every rule: candidate or not, each condition, matched, and a used-up limit', () => {
    const { engine } = engineFor([
      { id: 'exec-only', effect: 'allow', syscalls: ['SYS_EXEC'] },
      { id: 'mine', effect: 'allow', syscalls: ['SYS_OPEN'], paths: ['/agent/${agent}/**'], access: ['read'], limits: { max_calls: 1 } },
      { id: 'others', effect: 'deny', paths: ['/agent/b/**'] },
    ]);
    engine.decide(req());
    const explained = engine.explain(req());
    expect(explained.decision).toMatchObject({ effect: 'deny', rule: 'mine', reason: 'limit: max_calls 1 reached' });
    expect(explained.rules).toEqual([
      { id: 'exec-only', effect: 'allow', candidate: false, conditions: [], matched: false },
      { id: 'mine', effect: 'allow', candidate: true, conditions: [{ field: 'access', matched: true }, { field: 'paths', matched: true }], matched: true, limit: 'max_calls 1 reached' },
      { id: 'others', effect: 'deny', candidate: true, conditions: [{ field: 'paths', matched: false }], matched: false },
    ]);
    expect(engine.explain(req({ path: '/agent/b/x' })).decision).toMatchObject({ effect: 'deny', rule: 'others' });
  });
});
