/**
 * The policy loader: every kind of malformed policy is refused with a
 * PolicyError naming file, line, column and field; there is no fallback.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Kernel } from '../../kernel/kernel.ts';
import { loadPolicyFile, parsePolicy, PolicyError } from '../../kernel/policy/load.ts';
import { agentctl, scratch } from './helpers.ts';

const files = scratch();
afterAll(() => files.remove());

const RULE = '  - id: a\n    effect: allow\n';

interface Bad {
  readonly file: string;
  readonly text: string;
  readonly line: number;
  readonly field: string;
  readonly says: string | RegExp;
}

// prettier-ignore
const BAD: Readonly<Record<string, Bad>> = {
  'YAML syntax error': { file: 'indent.yaml', text: `version: 1\nrules:\n${RULE}   syscalls: [SYS_OPEN]\n`, line: 5, field: '', says: 'syntax error' },
  'YAML tab indentation': { file: 'tab.yaml', text: 'version: 1\nrules:\n  - id: a\n\teffect: allow\n', line: 4, field: '', says: 'syntax error: Tabs are not allowed' },
  'duplicate YAML key': { file: 'dupkey.yaml', text: `version: 1\nversion: 1\nrules:\n${RULE}`, line: 2, field: 'version', says: 'version: is given twice (first on line 1)' },
  'duplicate key inside a key': { file: 'dupkeykey.yaml', text: `version: 1\nrules:\n  - {id: a, effect: allow, syscalls: [SYS_GETPID], labels: { ? {k: 1, k: 2} : x }}\n`, line: 3, field: 'rules[0].labels.{"k":2}.k', says: 'is given twice (first on line 3)' },
  'duplicate key in a rule': { file: 'dupnested.yaml', text: `version: 1\nrules:\n${RULE}  - id: b\n    effect: allow\n    labels: { team: a, tier: b, team: c }\n`, line: 7, field: 'rules[1].labels.team', says: 'rules[1].labels.team: is given twice (first on line 7)' },
  'JSON syntax error': { file: 'comma.json', text: '{\n  "version": 1,\n  "rules": [\n    { "id": "a" "effect": "allow" }\n  ]\n}\n', line: 4, field: '', says: 'syntax error' },
  'JSON missing comma between members': { file: 'members.json', text: '{\n  "version": 1\n  "rules": []\n}\n', line: 2, field: '', says: 'syntax error' },
  'not a mapping': { file: 'list.yaml', text: '- 1\n- 2\n', line: 1, field: '', says: 'must be object' },
  'missing version': { file: 'noversion.yaml', text: `rules:\n${RULE}`, line: 1, field: 'version', says: 'version: is required' },
  'wrong version': { file: 'v2.yaml', text: `version: 2\nrules:\n${RULE}`, line: 1, field: 'version', says: 'version: must be 1' },
  'version as a string': { file: 'vstr.json', text: '{\n  "version": "1",\n  "rules": []\n}\n', line: 2, field: 'version', says: 'version: must be 1' },
  'missing rules': { file: 'norules.yaml', text: 'version: 1\nname: empty\n', line: 1, field: 'rules', says: 'rules: is required' },
  'rule without id': { file: 'noid.yaml', text: 'version: 1\nrules:\n  - effect: allow\n    syscalls: [SYS_OPEN]\n', line: 3, field: 'rules[0].id', says: 'rules[0].id: is required' },
  'bad rule id': { file: 'badid.yaml', text: 'version: 1\nrules:\n  - id: "has space"\n    effect: allow\n', line: 3, field: 'rules[0].id', says: 'must match pattern' },
  'bad effect': { file: 'effect.yaml', text: 'version: 1\nrules:\n  - id: a\n    effect: permit\n', line: 4, field: 'rules[0].effect', says: 'must be one of allow, deny, require_approval' },
  'unknown field': { file: 'typo.yaml', text: `version: 1\nrules:\n${RULE}    sycalls: [SYS_OPEN]\n`, line: 5, field: 'rules[0].sycalls', says: 'rules[0].sycalls: is not a known field' },
  'unknown top-level field': { file: 'top.yaml', text: `version: 1\nallow_all: true\nrules:\n${RULE}`, line: 2, field: 'allow_all', says: 'is not a known field' },
  'bad path glob': { file: 'glob.yaml', text: `version: 1\nrules:\n${RULE}    paths: ["/agent/ok/**", "/agent/[abc"]\n`, line: 5, field: 'rules[0].paths[1]', says: 'is not valid' },
  'bad args glob': { file: 'argglob.yaml', text: `version: 1\nrules:\n${RULE}    args:\n      - { arg: path, glob: "x[" }\n`, line: 6, field: 'rules[0].args[0].glob', says: 'is not valid' },
  'bad regex': { file: 'regex.yaml', text: `version: 1\nrules:\n${RULE}    args:\n      - { arg: path, regex: "(unclosed" }\n`, line: 6, field: 'rules[0].args[0].regex', says: 'missing closing )' },
  'backreference (not RE2)': { file: 'backref.yaml', text: `version: 1\nrules:\n${RULE}    args:\n      - { arg: path, regex: "(a)\\\\1" }\n`, line: 6, field: 'rules[0].args[0].regex', says: 'is not valid' },
  'unknown SYS_ name': { file: 'sys.yaml', text: `version: 1\nrules:\n${RULE}    syscalls: [SYS_OPEN, SYS_FROB]\n`, line: 5, field: 'rules[0].syscalls[1]', says: "unknown syscall 'SYS_FROB'" },
  'bad timezone': { file: 'tz.yaml', text: `version: 1\nrules:\n${RULE}    when:\n      hours: "09:00-17:00"\n      timezone: Mars/Olympus\n`, line: 7, field: 'rules[0].when.timezone', says: 'Mars/Olympus' },
  'bad hours format': { file: 'hours.yaml', text: `version: 1\nrules:\n${RULE}    when: { hours: "9-17" }\n`, line: 5, field: 'rules[0].when.hours', says: 'must match pattern' },
  'hours out of range': { file: 'hours25.yaml', text: `version: 1\nrules:\n${RULE}    when: { hours: "25:00-26:00" }\n`, line: 5, field: 'rules[0].when.hours', says: 'must match pattern' },
  'bad weekday': { file: 'day.yaml', text: `version: 1\nrules:\n${RULE}    when: { days: [mon, funday] }\n`, line: 5, field: 'rules[0].when.days[1]', says: 'must be one of mon, tue' },
  'duplicate rule id': { file: 'dup.yaml', text: `version: 1\nrules:\n${RULE}  - id: b\n    effect: deny\n  - id: a\n    effect: deny\n`, line: 7, field: 'rules[2].id', says: "duplicate rule id 'a' (first at rules[0])" },
  'args pattern with two matchers': { file: 'two.yaml', text: `version: 1\nrules:\n${RULE}    args:\n      - { arg: path, equals: x, contains: y }\n`, line: 6, field: 'rules[0].args[0]', says: 'needs arg and exactly one of equals, contains, glob, regex' },
  'args pattern with no matcher': { file: 'none.yaml', text: `version: 1\nrules:\n${RULE}    args:\n      - { arg: path }\n`, line: 6, field: 'rules[0].args[0]', says: 'needs arg and exactly one of equals, contains, glob, regex' },
  'syscalls not a list': { file: 'type1.yaml', text: `version: 1\nrules:\n${RULE}    syscalls: SYS_OPEN\n`, line: 5, field: 'rules[0].syscalls', says: 'must be array' },
  'max_calls not a number': { file: 'type2.yaml', text: `version: 1\nrules:\n${RULE}    limits: { max_calls: ten }\n`, line: 5, field: 'rules[0].limits.max_calls', says: 'must be integer' },
  'rules not a list': { file: 'type3.yaml', text: 'version: 1\nrules: { id: a, effect: allow }\n', line: 2, field: 'rules', says: 'must be array' },
  'labels not strings': { file: 'type4.json', text: '{\n  "version": 1,\n  "rules": [\n    { "id": "a", "effect": "allow", "labels": { "team": 7 } }\n  ]\n}\n', line: 4, field: 'rules[0].labels.team', says: 'must be string' },
  'misspelt placeholder in a path': { file: 'agnet.yaml', text: `version: 1\nrules:\n${RULE}    paths: ["/agent/\${agent}/**", "/agent/\${agnet}/**"]\n`, line: 5, field: 'rules[0].paths[1]', says: "unknown placeholder '${agnet}' (known placeholders: ${agent}, in paths only)" },
  'unknown placeholder in a path': { file: 'user.yaml', text: `version: 1\nrules:\n${RULE}    paths:\n      - "/home/\${user}/**"\n`, line: 6, field: 'rules[0].paths[0]', says: "unknown placeholder '${user}'" },
  'placeholder in agents (never expanded)': { file: 'agents-var.yaml', text: `version: 1\nrules:\n${RULE}    agents: ["\${agent}"]\n`, line: 5, field: 'rules[0].agents[0]', says: "placeholder '${agent}' is not expanded here: it would match the text '$agent'" },
  'placeholder in an args glob (never expanded)': { file: 'args-var.yaml', text: `version: 1\nrules:\n${RULE}    args:\n      - { arg: path, glob: "/agent/\${agent}/*" }\n`, line: 6, field: 'rules[0].args[0].glob', says: 'is not expanded here' },
  'placeholder in a label (never expanded)': { file: 'label-var.yaml', text: `version: 1\nrules:\n${RULE}    labels: { owner: "\${agent}" }\n`, line: 5, field: 'rules[0].labels.owner', says: 'is not expanded here' },
  'approval timeout not positive': { file: 'type5.yaml', text: `version: 1\ndefaults: { approval_timeout_ms: 0 }\nrules:\n${RULE}`, line: 2, field: 'defaults.approval_timeout_ms', says: 'must be >= 1' },
};

describe('loadPolicyFile refuses malformed policies, naming file, line and field', () => {
  it.each(Object.entries(BAD))('%s', (_what, bad) => {
    const path = files.write(bad.file, bad.text);
    let error: unknown;
    try {
      loadPolicyFile(path);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(PolicyError);
    const e = error as PolicyError;
    expect([e.file, e.line, e.field]).toEqual([path, bad.line, bad.field]);
    expect(e.column).toBeGreaterThanOrEqual(1);
    expect(e.message.startsWith(`${path}:${bad.line}:${e.column}: ${bad.field ? `${bad.field}: ` : ''}`)).toBe(true);
    if (typeof bad.says === 'string') expect(e.message).toContain(bad.says);
    else expect(e.message).toMatch(bad.says);
  });

  it('an unreadable file is a PolicyError too, never an empty policy', () => {
    const missing = join(files.dir, 'missing.yaml');
    expect(() => loadPolicyFile(missing)).toThrow(PolicyError);
    expect(() => loadPolicyFile(missing)).toThrow(`${missing}: no such file or directory`);
    expect(() => loadPolicyFile(files.dir)).toThrow(`${files.dir}: not a regular file`);
  });

  it('an empty document is refused', () => {
    expect(() => parsePolicy('', 'empty.yaml')).toThrow(PolicyError);
    expect(() => parsePolicy('# only a comment\n', 'comment.yaml')).toThrow(PolicyError);
  });
});

describe('equivalent YAML and JSON', () => {
  const yaml = [
    '# the same policy, as YAML',
    'version: 1',
    'name: same',
    'rules:',
    '  - id: own',
    '    effect: allow',
    '    syscalls: [SYS_OPEN, SYS_STAT]',
    '    paths: ["/agent/${agent}/**"]',
    '  - id: no-checkpoints',
    '    effect: deny',
    '    paths: ["/agent/*/state/**"]',
    '    on_violation: SIGPOLICY',
    '',
  ].join('\n');
  const json = JSON.stringify({
    rules: [
      { paths: ['/agent/${agent}/**'], effect: 'allow', id: 'own', syscalls: ['SYS_OPEN', 'SYS_STAT'] },
      { id: 'no-checkpoints', on_violation: 'SIGPOLICY', effect: 'deny', paths: ['/agent/*/state/**'] },
    ],
    name: 'same',
    version: 1,
  }, null, 2);

  it('give the same version hash, whatever the key order and formatting', () => {
    const a = loadPolicyFile(files.write('same.yaml', yaml));
    const b = loadPolicyFile(files.write('same.json', json));
    expect(a.version).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(b.version).toBe(a.version);
    expect(b.document).toEqual(a.document);
  });

  it('a policy a program wrote as JSON (the fast path) is the same policy as through YAML; its problems are still named by line and field', () => {
    const compact = JSON.stringify(JSON.parse(json));
    for (const text of [json, compact, `${compact}\n`]) {
      const fast = parsePolicy(text, 'machine.json');
      expect([fast.version, fast.document]).toEqual([parsePolicy(yaml, 'same.yaml').version, parsePolicy(yaml, 'same.yaml').document]);
    }
    // A duplicate key is lost by JSON.parse, so the text is not its own re-serialisation: the YAML path refuses it.
    const duplicated = compact.replace('"name":"same"', '"name":"same","name":"other"');
    expect(() => parsePolicy(duplicated, 'dup.json')).toThrow(/dup\.json:1:\d+: name: is given twice \(first on line 1\)/);
    // Valid JSON that breaks the schema or the compiler: the same positioned errors as any policy.
    const unknown = JSON.stringify({ version: 1, rules: [{ id: 'a', effect: 'allow', syscalls: ['SYS_NOPE'] }] }, null, 2);
    expect(() => parsePolicy(unknown, 'bad.json')).toThrow(/bad\.json:8:9: rules\[0\]\.syscalls\[0\]: unknown syscall 'SYS_NOPE'/);
    const badEffect = JSON.stringify({ version: 1, rules: [{ id: 'a', effect: 'maybe' }] });
    expect(() => parsePolicy(badEffect, 'effect.json')).toThrow(PolicyError);
  });

  it('any change in content changes the version', () => {
    const a = parsePolicy(yaml, 'a.yaml');
    const b = parsePolicy(yaml.replace('SYS_STAT]', 'SYS_STAT, SYS_READDIR]'), 'b.yaml');
    expect(b.version).not.toBe(a.version);
  });
});

describe('no fallback policy', () => {
  it('a kernel is never built from a policy that failed to load', () => {
    const path = files.write('broken.yaml', 'version: 1\nrules:\n  - id: a\n    effect: permit\n');
    let kernel: Kernel | undefined;
    expect(() => {
      kernel = new Kernel({ policy: loadPolicyFile(path) });
    }).toThrow(PolicyError);
    expect(kernel).toBeUndefined();
  });

  it('agentctl run with a broken policy exits 2 before the program runs or the log is opened', async () => {
    const policy = files.write('run-broken.yaml', `version: 1\nrules:\n${RULE}    effect_typo: deny\n`);
    const program = files.write('hello.ts', "console.log('the program ran');\n");
    const log = join(files.dir, 'never.jsonl');
    const run = await agentctl(['run', program, '--policy', policy, '--log', log, '--approve=deny']);
    expect(run.status).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(`agentctl: ${policy}:5:5: rules[0].effect_typo: is not a known field\n`);
    expect(existsSync(log)).toBe(false);
  });
});
