/**
 * A path-like argument glob (one that can match a value starting with `/`) reads a path-like value
 * only in the kernel's canonical form. It matched the text as sent, so
 * `path: /data/../etc/shadow` was allowed by `/data/**` and not denied by
 * `/etc/**`, while the tool acted on /etc/shadow. Now a value with a `.` or
 * `..` segment, an empty segment, a trailing `/` or a NUL matches no allow or
 * require_approval rule's path glob and every deny rule's (fail closed both
 * ways), the rule index finds those denies, and the decision says why.
 */
import { describe, expect, it } from 'vitest';
import { PolicyEngine } from '../../kernel/policy/engine.ts';
import { MATCH_LIMIT } from '../../kernel/policy/matchers.ts';
import { pathSpelling } from '../../kernel/policy/path-spelling.ts';
import { parsePolicy } from '../../kernel/policy/load.ts';
import type { PolicyRequest } from '../../abi/policy-request.ts';
import type { PolicyRule } from '../../kernel/policy/schema.ts';

const engineFor = (rules: readonly PolicyRule[]) => new PolicyEngine(parsePolicy(JSON.stringify({ version: 1, rules }), 'test.json'));
const read = (path: unknown, tool = 'fs.read'): PolicyRequest => ({ agentId: 'a', syscall: 'SYS_EXEC', tool, args: { path } });

const NOT_CANONICAL: readonly [string, string][] = [
  ['/data/../etc/shadow', "a '..' segment"],
  ['/data/..', "a '..' segment"],
  ['/data/./x', "a '.' segment"],
  ['/data/.', "a '.' segment"],
  ['/data//x', "an empty segment ('//')"],
  ['//data/x', "an empty segment ('//')"],
  ['/data/x/', "ends with '/'"],
  ['/data/x\0.txt', 'a NUL byte'],
];
/** Canonical paths, and values that are not paths (no leading '/'), which are read as sent. */
const CANONICAL = ['/', '/data', '/data/x', '/data/...', '/data/x..y', '/data/.hidden', '/data/..x', '/data/%2e%2e/x'];

describe('pathSpelling: the kernel canonical form', () => {
  it.each(NOT_CANONICAL)('%j is not canonical: %s', (value, why) => {
    expect(pathSpelling(value)).toContain(why);
  });

  it.each([...CANONICAL, 'data/../x', '', '.', 'https://h/a/../b'])('%j is canonical or not a path', (value) => {
    expect(pathSpelling(value)).toBeUndefined();
  });
});

describe('an allow or require_approval rule path glob does not match a path not in canonical form', () => {
  const engine = engineFor([
    { id: 'data-reads', effect: 'allow', syscalls: ['SYS_EXEC'], tools: ['fs.read'], args: [{ arg: 'path', glob: '/data/**' }] },
    { id: 'data-writes', effect: 'require_approval', syscalls: ['SYS_EXEC'], tools: ['fs.write'], args: [{ arg: 'path', glob: '/data/**' }] },
  ]);

  it.each(NOT_CANONICAL)('%j (%s) is denied by default, and the reason says why', (path, why) => {
    for (const tool of ['fs.read', 'fs.write']) {
      const d = engine.decide(read(path, tool));
      expect(d).toMatchObject({ effect: 'deny', rule: 'default-deny' });
      // The reason names the argument when a rule its literal (/data) selects was tried; `//data/x` does not carry it, and explain shows the note.
      if (path.startsWith('//')) expect(d.reason).toBe('no rule matches');
      else expect(d.reason).toMatch(new RegExp(`^no rule matches: argument 'path' is not a canonical path \\(it [^)]*${why.replace(/[.()]/g, '\\$&')}`));
    }
  });

  it('the same text as bytes is read the same way', () => {
    expect(engine.decide(read(new TextEncoder().encode('/data/../etc/shadow')))).toMatchObject({ effect: 'deny', rule: 'default-deny' });
  });

  it.each(CANONICAL.filter((p) => p.startsWith('/data')))('canonical %j is decided as before', (path) => {
    expect(engine.decide(read(path))).toMatchObject({ effect: 'allow', rule: 'data-reads' });
    expect(engine.decide(read(path, 'fs.write'))).toMatchObject({ effect: 'require_approval', rule: 'data-writes' });
  });

  it('explain shows why the rule did not match', () => {
    const trace = engine.explain(read('/data/../etc/shadow')).rules.find((r) => r.id === 'data-reads')!;
    expect(trace).toMatchObject({ matched: false, conditions: expect.arrayContaining([{ field: 'args', matched: false }]) });
    expect(trace.note).toMatch(/^argument 'path' is not a canonical path \(it has a '\.\.' segment\): an allow or require_approval rule's path glob does not \(fail closed\)/);
    expect(engine.explain(read('/data/x')).rules.find((r) => r.id === 'data-reads')!.note).toBeUndefined();
  });
});

describe('a deny rule path glob matches a path not in canonical form', () => {
  // The allow names no argument: it lets any path through, and only the deny reads `path`.
  const rules: PolicyRule[] = [
    { id: 'no-etc', effect: 'deny', syscalls: ['SYS_EXEC'], tools: ['fs.read'], args: [{ arg: 'path', glob: '/etc/**' }] },
    { id: 'reads', effect: 'allow', syscalls: ['SYS_EXEC'], tools: ['fs.read'] },
  ];
  const engine = engineFor(rules);

  it.each(NOT_CANONICAL)('%j (%s) is denied by the deny rule, which says why', (path, why) => {
    const d = engine.decide(read(path));
    expect(d).toMatchObject({ effect: 'deny', rule: 'no-etc' });
    expect(d.reason).toContain("argument 'path' is not a canonical path (");
    expect(d.reason).toContain(why);
    expect(d.reason).toContain("a deny rule's path glob matches it");
  });

  it('canonical paths are decided as before', () => {
    expect(engine.decide(read('/etc/shadow'))).toMatchObject({ effect: 'deny', rule: 'no-etc', reason: 'denied by rule no-etc' });
    expect(engine.decide(read('/etc'))).toMatchObject({ effect: 'deny', rule: 'no-etc' });
    for (const path of ['/data/x', '/', '/etcetera/x', 'etc/../x', '../etc/shadow']) expect(engine.decide(read(path))).toMatchObject({ effect: 'allow', rule: 'reads' });
  });

  it('a value past MATCH_LIMIT that is not canonical is denied too, whatever its head', () => {
    expect(engine.decide(read(`/data/../${'x'.repeat(MATCH_LIMIT)}`))).toMatchObject({ effect: 'deny', rule: 'no-etc' });
  });

  it('explain marks the deny matched, with the note', () => {
    const trace = engine.explain(read('/data//etc/shadow')).rules.find((r) => r.id === 'no-etc')!;
    expect(trace.matched).toBe(true);
    expect(trace.note).toContain("a deny rule's path glob matches it");
  });

  it('a glob that is not path-like reads the text as sent', () => {
    const urls = engineFor([
      { id: 'no-admin', effect: 'deny', args: [{ arg: 'url', glob: 'https://h.example/admin/**' }] },
      { id: 'h', effect: 'allow', args: [{ arg: 'url', glob: 'https://h.example/**' }] },
    ]);
    expect(urls.decide({ agentId: 'a', syscall: 'SYS_EXEC', tool: 'http.get', args: { url: 'https://h.example/x/../admin/y' } })).toMatchObject({ effect: 'allow', rule: 'h' });
    // And a path glob does not read another argument: a deny on `path` says nothing about `dest`.
    expect(engine.decide({ ...read('/data/x'), args: { path: '/data/x', dest: '/data/../etc/x' } })).toMatchObject({ effect: 'allow' });
  });
});

describe('the rule index finds every deny a path not in canonical form matches', () => {
  // Denies keyed by a /-bounded prefix, by a glob's first characters, by an anchored regex, and one under a label; many allows keyed beside them.
  const denies: PolicyRule[] = [
    { id: 'd-etc', effect: 'deny', args: [{ arg: 'path', glob: '/etc/**' }] },
    { id: 'd-root', effect: 'deny', args: [{ arg: 'path', glob: '/root/.ssh/*' }] },
    { id: 'd-var', effect: 'deny', args: [{ arg: 'path', glob: '/var*' }] },
    { id: 'd-regex', effect: 'deny', args: [{ arg: 'path', regex: '^/srv/' }] },
    { id: 'd-label', effect: 'deny', labels: { team: 'ops' }, args: [{ arg: 'path', glob: '/boot/**' }] },
  ];
  const allows: PolicyRule[] = Array.from({ length: 40 }, (_, i): PolicyRule => ({ id: `a${i}`, effect: 'allow', args: [{ arg: 'path', glob: `/data/d${i}/**` }] }));
  const engine = engineFor([...denies, ...allows, { id: 'rest', effect: 'allow', tools: ['other'] }]);
  const values = ['/data/d1/x', '/data/d1/../../etc/shadow', '/data/d1//x', '/etc/passwd', '/var/log', '/varx', '/srv/x', '/srv/../x', '/boot/x', '/boot/../x', '/data/d39/x/', '/', '/x\0'];

  it('the decision is the one every rule tried in full gives', () => {
    for (const labels of [undefined, { team: 'ops' }, { team: 'dev' }]) {
      for (const path of values) {
        const request: PolicyRequest = { agentId: 'a', syscall: 'SYS_EXEC', tool: 'fs.read', args: { path }, ...(labels ? { labels } : {}) };
        const traced = engine.explain(request).rules.filter((r) => r.matched);
        const want = traced.find((r) => r.effect === 'deny')?.id ?? traced.find((r) => r.effect === 'allow')?.id ?? 'default-deny';
        expect({ path, labels, rule: engine.check(request).rule }).toEqual({ path, labels, rule: want });
      }
    }
  });

  it('a path not in canonical form is denied by each path-glob deny, never allowed', () => {
    expect(engine.check(read('/data/d1/../../etc/shadow')).rule).toBe('d-etc');
    expect(engine.check(read('/data/d1//x')).effect).toBe('deny');
    // The regex reads the text as sent: '/srv/../x' starts with /srv/, and '/data/d39/x/' does not, so it is denied by the globs.
    expect(engine.check(read('/srv/../x')).rule).toBe('d-etc');
  });
});

describe('a glob that can match a path is a path glob however it is spelt (a review: only a leading / counted)', () => {
  const SPELLINGS = ['{/data/**,/srv/**}', '[/]data/**', '\\/data/**', '**/data/**'];

  it.each(SPELLINGS)('allow %s: a path not in canonical form does not match; a canonical one does', (glob) => {
    const engine = engineFor([{ id: 'reads', effect: 'allow', syscalls: ['SYS_EXEC'], tools: ['fs.read'], args: [{ arg: 'path', glob }] }]);
    expect(engine.decide(read('/data/x'))).toMatchObject({ effect: 'allow', rule: 'reads' });
    for (const [path] of NOT_CANONICAL) expect(engine.decide(read(path)), path).toMatchObject({ effect: 'deny' });
  });

  it.each(['{/etc/**,/root/**}', '[/]etc/**', '\\/etc/**'])('deny %s beside an allow of everything: a path not in canonical form is denied, a canonical one elsewhere allowed', (glob) => {
    const engine = engineFor([
      { id: 'all', effect: 'allow', syscalls: ['SYS_EXEC'], tools: ['fs.read'] },
      { id: 'no-etc', effect: 'deny', syscalls: ['SYS_EXEC'], tools: ['fs.read'], args: [{ arg: 'path', glob }] },
    ]);
    for (const path of ['/data/../etc/shadow', '//etc/shadow']) expect(engine.decide(read(path)), path).toMatchObject({ effect: 'deny', rule: 'no-etc' });
    expect(engine.decide(read(new TextEncoder().encode('/data/../etc/shadow')))).toMatchObject({ effect: 'deny', rule: 'no-etc' });
    expect(engine.decide(read('/data/x'))).toMatchObject({ effect: 'allow', rule: 'all' });
  });

  it('a glob that cannot match a path (no alternative starts with /, **, \\/ or a class holding /) reads the text as sent', () => {
    const engine = engineFor([{ id: 'names', effect: 'allow', syscalls: ['SYS_EXEC'], tools: ['fs.read'], args: [{ arg: 'path', glob: '{data,srv}/**' }] }]);
    expect(engine.decide(read('data/../x'))).toMatchObject({ effect: 'allow', rule: 'names' });
  });
});
