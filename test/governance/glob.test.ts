/**
 * Globs (kernel/policy/glob.ts): what each form matches, the line-terminator
 * bypasses found against the old backtracking matcher, agreement with
 * picomatch on the syntax both share, and hostile inputs that must finish.
 */
import fc from 'fast-check';
import picomatch from 'picomatch';
import { describe, expect, it } from 'vitest';
import { compileGlob, compileGlobs, GlobError, isLiteral, MatchCostError } from '../../kernel/policy/glob.ts';
import { AgentGlobs, MAX_AGENT_GLOBS } from '../../kernel/policy/compile.ts';
import { PolicyEngine } from '../../kernel/policy/engine.ts';
import { parsePolicy } from '../../kernel/policy/load.ts';
import { MATCH_LIMIT } from '../../kernel/policy/matchers.ts';
import { report } from '../syscalls/harness.ts';

const matches = (glob: string, value: string) => compileGlob(glob)(value);

describe('glob syntax', () => {
  it.each([
    ['/a/**', '/a', true],
    ['/a/**', '/a/b/c', true],
    ['/a/**', '/ab', false],
    ['**/x', 'x', true],
    ['**/x', 'a/b/x', true],
    ['a/**/b', 'a/b', true],
    ['a/**/b', 'a/x/y/b', true],
    ['a**b', 'a/x/b', true],
    ['*.ts', 'a/b.ts', false],
    ['*.ts', 'b.ts', true],
    ['a/*', 'a/', false],
    ['a/*', 'a/b', true],
    ['a/*', 'a/b/c', false],
    ['{a,b}/c', 'b/c', true],
    ['{a,{b,c}d}/e', 'cd/e', true],
    ['x{a}y', 'x{a}y', true],
    ['[!a]x', 'bx', true],
    ['[!a]x', '/x', false],
    ['[a-c]x', 'bx', true],
    ['[^a-c]x', 'bx', false],
    ['a?c', 'abc', true],
    ['a?c', 'a/c', false],
    ['a\\*c', 'a*c', true],
    ['a\\*c', 'abc', false],
    ['https://*.com/**', 'https://example.com/a', true],
    ['https://*.com/**', 'http://example.com/a', false],
    ['tool:mcp.*', 'tool:mcp.memory.read', true],
  ])('%s on %j is %s', (glob, value, want) => {
    expect(matches(glob, value)).toBe(want);
  });

  it('* ? and ** match line terminators; only / stops * and ?', () => {
    expect(matches('a*b', 'a\nb')).toBe(true);
    expect(matches('a?b', 'a\u2028b')).toBe(true);
    expect(matches('**', '\r\n/\n')).toBe(true);
  });

  it.each(['!(a)', '@(a|b)', '+(a)', '*(a)', '?(a)', '!a', 'a[', 'a]', '{a,b', 'a}', 'a\\', '[z-a]'])('refuses %j with a GlobError', (glob) => {
    expect(() => compileGlob(glob)).toThrow(GlobError);
  });

  it('braces past 256 alternatives are refused', () => {
    expect(() => compileGlob('{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}')).toThrow(/256/);
  });

  it('isLiteral is true only for globs that match themselves alone', () => {
    expect(['a.b', 'http://x/y', 'a+b', 'a(b)'].every(isLiteral)).toBe(true);
    expect(['a*', 'a?', 'a[b]', 'a{b,c}', 'a\\b', '!x', '@(x)'].some(isLiteral)).toBe(false);
  });

  it('a list matches when any glob does (literals, fast shapes and the automaton together)', () => {
    const test = compileGlobs(['exact', '/p/**', '**.md', 'a?c/*']);
    expect(['exact', '/p/q', 'x/y.md', 'abc/d'].map(test)).toEqual([true, true, true, true]);
    expect(['exac', '/pq', 'x/y.mdx', 'abc/d/e'].map(test)).toEqual([false, false, false, false]);
  });
});

describe('line terminators cannot slip past a deny (found against the old matcher)', () => {
  const policy = parsePolicy(
    `version: 1
rules:
  - { id: no-passwd, effect: deny, syscalls: [SYS_EXEC], args: [{ arg: cmd, glob: "**/etc/passwd**" }] }
  - { id: no-episodic, effect: deny, syscalls: [SYS_OPEN], paths: ["/agent/*/mem/episodic/**"] }
  - { id: rest, effect: allow }
`,
    'deny.yaml',
  );
  const engine = new PolicyEngine(policy);

  it('a command with a newline before the path is denied', () => {
    expect(engine.check({ agentId: 'a', syscall: 'SYS_EXEC', tool: 'sh', args: { cmd: 'true\nhead -1 /etc/passwd' } }).rule).toBe('no-passwd');
  });

  it('a path with a newline in a file name is denied', () => {
    expect(engine.check({ agentId: 'a', syscall: 'SYS_OPEN', path: '/agent/a/mem/episodic/plan\n.txt', access: 'read', args: {} }).rule).toBe('no-episodic');
  });
});

describe('agreement with picomatch where the syntaxes agree', () => {
  // Segments of literals, * and ?, or a whole-segment **; values without line terminators.
  const segment = fc.oneof(
    fc.constant('**'),
    fc.array(fc.constantFrom('a', 'b', '*', '?', 'a', 'b'), { minLength: 1, maxLength: 4 }).map((cs) => cs.join('').replace(/\*\*+/g, '*')),
  );
  const glob = fc.array(segment, { minLength: 1, maxLength: 4 }).map((segs) => segs.join('/'));
  // Normalised path-like values: no empty segment (where picomatch has quirks of its own).
  const value = fc.array(fc.constantFrom('a', 'b', 'ab', 'ba', 'aab'), { minLength: 1, maxLength: 5 }).map((segs) => segs.join('/'));

  // One known difference: picomatch lets `a/**` match `a` but not `*/**` match `a`; here a trailing `/**` always may match nothing.
  it('decides like picomatch (dot: true) on 5,000 random pairs', () => {
    fc.assert(
      fc.property(glob.filter((g) => !g.endsWith('/**') || !/[*?]/.test(g.slice(0, -3))), value, (g, v) => {
        expect(matches(g, v), `${g} on ${v}`).toBe(picomatch.isMatch(v, g, { dot: true }));
      }),
      { numRuns: 5000 },
    );
  });
});

describe('hostile inputs finish (linear time; a backtracking matcher takes hours here)', () => {
  const HOSTILE_GLOBS = ['*a*a*a*a*a*a*a*a*b', '**a**a**a**a**a**a**b', '?*?*?*?*?*?*?*c', '*[ab]*[ab]*[ab]*[ab]*[ab]*z', '{*a,*b,a*,b*}{*a,*b}{*a,*b}x'];
  it.each(HOSTILE_GLOBS)('%s against 1 MiB of near misses', (g) => {
    const test = compileGlob(g);
    expect(test('a'.repeat(1 << 20))).toBe(false);
    expect(test(`${'ab/'.repeat(1 << 18)}`)).toBe(false);
  });

  it('random globs against 64 KiB random inputs', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[ab*?/{},[\]]{1,24}$/), fc.stringMatching(/^[ab/\n]{0,16}$/), (g, seed) => {
        let test;
        try {
          test = compileGlob(g);
        } catch (err) {
          expect(err).toBeInstanceOf(GlobError);
          return;
        }
        try {
          expect(typeof test((seed || 'a').repeat(Math.ceil(65536 / (seed.length || 1))))).toBe('boolean');
        } catch (err) {
          // or it gives up at its step budget: bounded either way
          expect(err).toBeInstanceOf(MatchCostError);
        }
      }),
      { numRuns: 300 },
    );
  });
});

/** A fixed pseudo-random a/b string (an LCG's high bits): its windows keep finding new states of the 2^20 the DFA of `**a` + twenty `?` has. */
const noise = (n: number) => {
  let seed = 42;
  return Array.from({ length: n }, () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 30) & 1 ? 'a' : 'b').join('');
};
const rule = (id: string, effect: string, glob: string) => `  - { id: ${id}, effect: ${effect}, syscalls: [SYS_EXEC], tools: [t], args: [{ arg: x, glob: "${glob}" }] }`;
const load = (...rules: string[]) => new PolicyEngine(parsePolicy(`version: 1\nrules:\n${rules.join('\n')}\n`, 'explode.yaml'));
const checkX = (engine: PolicyEngine, x: string) => engine.check({ agentId: 'a', syscall: 'SYS_EXEC', tool: 't', args: { x } });

describe('globs whose automaton explodes (found by the attacker pass: 250 alternatives took 11 s a match)', () => {
  it('a glob list too large to match in bounded time is refused at load, naming the rule and field', () => {
    const tools = Array.from({ length: 250 }, (_, i) => `"**a${'?'.repeat(i % 30)}z${i}"`).join(', ');
    expect(() => load(`  - { id: r, effect: deny, syscalls: [SYS_EXEC], tools: [${tools}] }`)).toThrow(/rules\[0\]\.tools: is not valid: is too complex to match in bounded time \(\d+ automaton states, more than 8192\)/);
  });

  it('a match past its step budget denies the request, even when an allow rule is the one being matched', () => {
    const engine = load(rule('wide', 'allow', `**a${'?'.repeat(20)}x`));
    expect(checkX(engine, noise(MATCH_LIMIT))).toMatchObject({ effect: 'deny', rule: 'kernel.match-cost', reason: expect.stringMatching(/^rule wide: glob matching went past its budget .*fail closed/) });
    // Short values, and values the automaton has already seen, match as usual.
    expect(checkX(engine, `${noise(40)}a${'b'.repeat(20)}x`).effect).toBe('allow');
  });

  it('one budget for the whole decision: two rules that each fit it alone do not together', () => {
    const input = noise(2500);
    expect(checkX(load(rule('one', 'allow', `**a${'?'.repeat(20)}x`)), input).rule).toBe('default-deny');
    expect(checkX(load(rule('two', 'allow', `**a${'?'.repeat(20)}y`)), input).rule).toBe('default-deny');
    expect(checkX(load(rule('one', 'allow', `**a${'?'.repeat(20)}x`), rule('two', 'allow', `**a${'?'.repeat(20)}y`)), input).rule).toBe('kernel.match-cost');
  });
});

describe('arguments past the match limit', () => {
  const policy = parsePolicy(
    `version: 1
rules:
  - { id: no-evil, effect: deny, syscalls: [SYS_EXEC], tools: [http.fetch], args: [{ arg: url, glob: "https://evil.example/**" }] }
  - { id: api, effect: allow, syscalls: [SYS_EXEC], tools: [http.fetch], args: [{ arg: url, glob: "https://api.example/**" }] }
  - { id: rx, effect: allow, syscalls: [SYS_EXEC], tools: [t], args: [{ arg: x, regex: "^a+$" }] }
  - { id: has, effect: deny, syscalls: [SYS_EXEC], tools: [t], args: [{ arg: y, contains: needle }] }
  - { id: ask, effect: allow, syscalls: [SYS_CHECKPOLICY, SYS_WRITE] }
`,
    'limit.yaml',
  );
  const engine = new PolicyEngine(policy);
  const fetch = (url: string) => engine.check({ agentId: 'a', syscall: 'SYS_EXEC', tool: 'http.fetch', args: { url } });
  const t = (args: Record<string, string>) => engine.check({ agentId: 'a', syscall: 'SYS_EXEC', tool: 't', args });
  const long = 'x'.repeat(MATCH_LIMIT);

  it('an allow glob does not match a value past the limit; a deny glob with the same head does, and says why', () => {
    expect(fetch(`https://api.example/${long}`)).toMatchObject({ effect: 'deny', rule: 'default-deny' });
    expect(fetch(`https://evil.example/${long}`)).toMatchObject({ effect: 'deny', rule: 'no-evil', reason: expect.stringMatching(/argument 'url' is \d+ characters, more than the 8192/) });
    expect(fetch(`https://api.example/${'x'.repeat(100)}`).effect).toBe('allow');
  });

  it('a deny glob whose literal head differs does not claim a long value', () => {
    expect(fetch(`https://other.example/${long}`)).toMatchObject({ rule: 'default-deny' });
  });

  it('regex reads at most the limit; contains reads everything', () => {
    expect(t({ x: 'a'.repeat(MATCH_LIMIT) }).effect).toBe('allow');
    expect(t({ x: 'a'.repeat(MATCH_LIMIT + 1) }).rule).toBe('default-deny');
    expect(t({ x: 'a', y: `${'z'.repeat(60_000)}needle` }).rule).toBe('has');
  });

  it('from ring 3: SYS_CHECKPOLICY with 64 KiB and four-times-64 KiB arguments answers at once', async () => {
    const big = "'y'.repeat(60000)";
    const { value } = await report<string[]>(
      `const a = sys.checkPolicy('SYS_EXEC', { tool: 'http.fetch', args: { url: 'https://api.example/' + ${big} } });
       const b = sys.checkPolicy('SYS_EXEC', { tool: 'http.fetch', args: { url: [${big}, ${big}, ${big}, ${big}] } });
       report([a.rule, b.rule]);`,
      { kernel: new (await import('../../kernel/kernel.ts')).Kernel({ policy }), manifest: { capabilities: ['tool:*'] } },
    );
    expect(value).toEqual(['default-deny', 'default-deny']);
  });
});

describe('${agent} globs, compiled per agent id', () => {
  it('are shared by every rule with the same globs and kept at most MAX_AGENT_GLOBS in all, however many agents ask; decisions stay right past the bound', () => {
    const globs = new AgentGlobs();
    const [one, two] = [globs.forGlobs(['/agent/${agent}/mem/**']), globs.forGlobs(['/agent/${agent}/mem/**'])];
    expect(one('bob')).toBe(two('bob'));
    expect(globs.size).toBe(1);
    for (let i = 0; i < MAX_AGENT_GLOBS + 500; i++) globs.forGlobs(['/agent/${agent}/notes/**'])(`a-${i}`);
    expect(globs.size).toBeLessThanOrEqual(MAX_AGENT_GLOBS);
    expect(one('bob')('/agent/bob/mem/x')).toBe(true);
    expect(one('bob')('/agent/eve/mem/x')).toBe(false);

    // Through the engine: 200 rules with one template, 20,000 agents.
    const rules = Array.from({ length: 200 }, (_, i) => `  - { id: r${i}, effect: allow, syscalls: [SYS_OPEN], labels: { team: t${i} }, paths: ["/agent/\${agent}/mem/**"] }`).join('\n');
    const engine = new PolicyEngine(parsePolicy(`version: 1\nrules:\n${rules}\n`, 'many.yaml'));
    for (let i = 0; i < 20_000; i++) {
      const agentId = `agent-${i}`;
      const labels = { team: `t${i % 200}` };
      expect(engine.check({ agentId, labels, syscall: 'SYS_OPEN', path: `/agent/${agentId}/mem/a` }).effect).toBe('allow');
      if (i % 1000 === 0) expect(engine.check({ agentId, labels, syscall: 'SYS_OPEN', path: `/agent/agent-${i + 1}/mem/a` }).effect).toBe('deny');
    }
  });
});

describe('${agent} glob lists that differ only by a newline (found by the attacker pass)', () => {
  it('never share compiled automata: which rule is tried first for an agent changes no decision', () => {
    const policy = parsePolicy(
      ['version: 1', 'rules:', '  - { id: odd, effect: allow, syscalls: [SYS_STAT], paths: ["/agent/${agent}/mem/a\\n/agent/${agent}/mem/secret/**"] }', '  - { id: no-secrets, effect: deny, syscalls: [SYS_OPEN], paths: ["/agent/${agent}/mem/a", "/agent/${agent}/mem/secret/**"] }', '  - { id: own-files, effect: allow, syscalls: [SYS_OPEN], paths: ["/agent/${agent}/**"] }', ''].join('\n'),
      'newline.yaml',
    );
    const engine = new PolicyEngine(policy);
    engine.check({ agentId: 'b', syscall: 'SYS_STAT', path: '/agent/b/mem/secret/notes' });
    expect(engine.check({ agentId: 'b', syscall: 'SYS_OPEN', path: '/agent/b/mem/secret/k' })).toMatchObject({ effect: 'deny', rule: 'no-secrets' });
  });
});
