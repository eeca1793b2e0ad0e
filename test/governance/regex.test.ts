/**
 * Policy regexes are RE2 (linear time): patterns that make a backtracking
 * engine run for ages decide at once, in the engine and through a real
 * kernel, on inputs up to the match limit; longer inputs are not read at
 * all (a deny rule's pattern counts as matching them). The time bound is
 * only a hang guard, not a performance assertion.
 */
import { describe, expect, it } from 'vitest';
import { PolicyEngine } from '../../kernel/policy/engine.ts';
import { parsePolicy } from '../../kernel/policy/load.ts';
import fc from 'fast-check';
import { RE2JS } from 're2js';
import { MATCH_LIMIT, regexTest } from '../../kernel/policy/matchers.ts';
import { nativeRegex } from '../../kernel/policy/regex-native.ts';
import { permissiveKernel, report } from '../syscalls/harness.ts';
import { Kernel } from '../../kernel/kernel.ts';

const HANG_GUARD_MS = 2000;

/** N: the longest input a pattern reads; backtracking engines explode long before it. */
const N = MATCH_LIMIT - 1;

/** CATASTROPHIC pairs a pattern with an input that never matches and makes a backtracking engine explode. */
const CATASTROPHIC: readonly (readonly [pattern: string, input: string])[] = [
  ['(a+)+$', `${'a'.repeat(N - 1)}b`],
  ['(x+x+)+y', 'x'.repeat(N)],
  ['^(a|a)*$', `${'a'.repeat(N - 1)}!`],
  ['^(.*a){20}$', `${'a'.repeat(N - 1)}b`],
];

function denyOn(pattern: string) {
  return parsePolicy(
    JSON.stringify({
      version: 1,
      rules: [
        { id: 'evil-input', effect: 'deny', syscalls: ['SYS_EXEC'], args: [{ arg: 'args', regex: pattern }] },
        { id: 'rest', effect: 'allow' },
      ],
    }),
    'regex.json',
  );
}

describe('catastrophic regexes decide in linear time', () => {
  it.each(CATASTROPHIC)('%s against an input at the match limit, in the engine', (pattern, input) => {
    const engine = new PolicyEngine(denyOn(pattern));
    const started = performance.now();
    const decision = engine.decide({ agentId: 'a', syscall: 'SYS_EXEC', tool: 't', args: { tool: 't', args: input } });
    const elapsed = performance.now() - started;
    expect([decision.effect, decision.rule]).toEqual(['allow', 'rest']);
    expect(elapsed).toBeLessThan(HANG_GUARD_MS);
  });

  it('a matching input still matches (the pattern is really applied)', () => {
    const engine = new PolicyEngine(denyOn('(x+x+)+y'));
    const decision = engine.decide({ agentId: 'a', syscall: 'SYS_EXEC', tool: 't', args: { tool: 't', args: `${'x'.repeat(N - 1)}y` } });
    expect([decision.effect, decision.rule]).toEqual(['deny', 'evil-input']);
  });

  it('an input past the match limit is not read: the deny rule counts as matching, and says why', () => {
    const engine = new PolicyEngine(denyOn('(x+x+)+y'));
    const decision = engine.decide({ agentId: 'a', syscall: 'SYS_EXEC', tool: 't', args: { tool: 't', args: 'x'.repeat(100 * 1024) } });
    expect(decision).toMatchObject({ effect: 'deny', rule: 'evil-input', reason: expect.stringContaining(`more than the ${MATCH_LIMIT}`) });
  });

  it('through a real kernel: an agent sending the worst input gets its answer at once, and other calls go on', async () => {
    // Each SYS_EXEC's time in ring 0, the decision's included (the isolate's start, which a loaded machine may make slow, is not).
    const execMs: number[] = [];
    const kernel = new Kernel({ policy: denyOn('(x+x+)+y'), observeSyscall: (name, seconds) => void (name === 'SYS_EXEC' && execMs.push(seconds * 1000)) });
    const { value } = await report(`
      const evil = 'x'.repeat(${N - 1});
      report({ miss: raw(SYS.SYS_EXEC, 't', evil), hit: raw(SYS.SYS_EXEC, 't', evil + 'y'), long: raw(SYS.SYS_EXEC, 't', 'x'.repeat(60000)), pid: sys.getpid() === sys.pid });
    `, { kernel, manifest: { capabilities: ['tool:t'] } });
    // A miss is allowed by 'rest' and reaches the tool registry (no tool 't'); a hit is denied; an input past the limit is denied unread.
    expect(value).toEqual({ miss: { errno: 'ENOENT' }, hit: { errno: 'EACCES' }, long: { errno: 'EACCES' }, pid: true });
    expect(execMs).toHaveLength(3);
    expect(Math.max(...execMs)).toBeLessThan(HANG_GUARD_MS);
  });

  it('a policy cannot smuggle in a backtracking-only construct', () => {
    for (const pattern of ['(a)\\1', '(?=a)a', '(?<!a)b']) expect(() => denyOn(pattern)).toThrow(/args\[0\]\.regex: is not valid/);
  });

  it('the kernel under an allow-all policy is unaffected by the same inputs', async () => {
    const { value } = await report("report(raw(SYS.SYS_EXEC, 't', 'x'.repeat(60000)));", { kernel: permissiveKernel(), manifest: { capabilities: ['tool:t'] } });
    expect(value).toEqual({ errno: 'ENOENT' });
  });
});

describe('patterns V8\'s engine runs in RE2\'s place (kernel/policy/regex-native.ts)', () => {
  const atom = fc.oneof(fc.constantFrom('a', 'b', ' ', '-', 'git', '\\.', '\\(', '\\|', '\\/', '^', '$'), fc.constantFrom('x'));
  const pattern: fc.Arbitrary<string> = fc.letrec<{ alt: string; seq: string; item: string }>((tie) => ({
    alt: fc.array(tie('seq'), { minLength: 1, maxLength: 3, depthIdentifier: 'regex' }).map((seqs) => seqs.join('|')),
    seq: fc.array(tie('item'), { minLength: 0, maxLength: 4, depthIdentifier: 'regex' }).map((items) => items.join('')),
    item: fc.oneof({ maxDepth: 2, depthIdentifier: 'regex', withCrossShrink: true }, atom, tie('alt').map((alt) => `(${alt})`), tie('alt').map((alt) => `(?:${alt})`)),
  })).alt;
  const input = fc.array(fc.constantFrom('a', 'b', ' ', '-', 'g', 'i', 't', '.', '(', '|', '/', 'x', '\n', '\u{1F600}'), { maxLength: 12 }).map((cs) => cs.join(''));

  it('decide every input as RE2 does', () => {
    let native = 0;
    fc.assert(
      fc.property(pattern, fc.array(input, { minLength: 1, maxLength: 8 }), (p, values) => {
        if (nativeRegex(p) !== undefined) native++;
        const re2 = RE2JS.compile(p);
        const test = regexTest(p);
        for (const value of values) expect(test(value), `${JSON.stringify(p)} on ${JSON.stringify(value)}`).toBe(re2.test(value));
      }),
      { numRuns: 2000 },
    );
    // Most generated patterns are in the subset: the comparison is of the two engines, not of RE2 with itself.
    expect(native).toBeGreaterThan(1500);
  });

  it('take only what cannot backtrack badly: no quantifier, class, dot or other escape, and a bounded number of ways', () => {
    expect(nativeRegex('^git (status|log|diff)( |$)')).toBeInstanceOf(RegExp);
    expect(nativeRegex('^rm( |$)')).toBeInstanceOf(RegExp);
    for (const p of ['(a+)+$', '^a*', '^a?b', 'a{2}', '[ab]', '^.', '\\d', '\\bgit', '(?i)git', '(?P<n>a)', 'é', '(a|b)(a|b)(a|b)(a|b)(a|b)(a|b)']) expect(nativeRegex(p), p).toBeUndefined();
    expect(nativeRegex('(a|b)(a|b)(a|b)(a|b)(a|b)')).toBeInstanceOf(RegExp);
    // Found by an attacker pass: a long periodic pattern on a long value ran 174 ms on V8's engine (2.9 ms on re2js).
    const periodic = `(a|a)(a|a)(a|a)(a|a)(a|a)aaaab${'a'.repeat(4066)}`;
    expect(nativeRegex(periodic)).toBeUndefined();
    // Past NATIVE_INPUT_MAX a value goes to re2js, with the same answer.
    const short = '(a|a)(a|a)(a|a)(a|a)(a|a)aaaab';
    expect(nativeRegex(short)).toBeInstanceOf(RegExp);
    for (const value of ['a'.repeat(8000), `${'a'.repeat(8000)}aaaab`]) expect(regexTest(short)(value)).toBe(RE2JS.compile(short).test(value));
  });
});
