/**
 * `agentctl policy schema|validate|test|explain` and the governed example,
 * run as real child processes.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { loadPolicyFile } from '../../kernel/policy/load.ts';
import { POLICY_SCHEMA } from '../../kernel/policy/schema.ts';
import type { ChainRecord } from '../../kernel/recorder/chain.ts';
import { verifyLog } from '../../kernel/recorder/verify.ts';
import { agentctl, REPO, scratch } from './helpers.ts';

const files = scratch();
afterAll(() => files.remove());

const NOTES = 'examples/policies/notes.yaml';
const NOTES_VERSION = loadPolicyFile(join(REPO, NOTES)).version;

/** testCase is one entry of a policy test file. */
function testCase(name: string, syscall: string, effect: string, at?: string): string {
  return [`  - name: ${name}`, `    request: { agent: n, syscall: ${syscall} }`, `    expect: ${effect}`, ...(at ? [`    at: "${at}"`] : [])].join('\n');
}

/** explainRequest is the JSON of a request from agent notes. */
function explainRequest(fields: Record<string, unknown>): string {
  return JSON.stringify({ agent: 'notes', ...fields });
}

/** runGoverned runs examples/governed.ts under the notes policy with a fresh --log and returns the log's text too. */
async function runGoverned(approve: string) {
  const log = join(files.dir, `governed-${approve}.jsonl`);
  const r = await agentctl(['run', 'examples/governed.ts', '--policy', NOTES, '--agent', 'notes', `--approve=${approve}`, '--log', log]);
  return { ...r, log, text: readFileSync(log, 'utf8') };
}

describe('agentctl policy schema', () => {
  it('prints the published JSON Schema as valid JSON, which accepts the example policy and rejects a bad one', async () => {
    const r = await agentctl(['policy', 'schema']);
    expect(r.status).toBe(0);
    const schema = JSON.parse(r.stdout) as typeof POLICY_SCHEMA;
    expect(schema).toEqual(JSON.parse(JSON.stringify(POLICY_SCHEMA)));
    const validate = new Ajv({ strict: true }).compile(schema);
    expect(validate(parseYaml(readFileSync(join(REPO, NOTES), 'utf8')))).toBe(true);
    expect(validate({ version: 1, rules: [{ id: 'x', effect: 'maybe' }] })).toBe(false);
  });
});

describe('agentctl policy validate', () => {
  it('a good policy: exit 0 with its rule count and version', async () => {
    const [text, json] = await Promise.all([agentctl(['policy', 'validate', NOTES]), agentctl(['policy', 'validate', NOTES, '--json'])]);
    expect([text.status, text.stdout]).toEqual([0, `ok: ${NOTES} (5 rules, ${NOTES_VERSION})\n`]);
    expect(JSON.parse(json.stdout)).toEqual({ ok: true, file: NOTES, version: NOTES_VERSION, rules: 5 });
  });

  it('a bad policy: exit 1 with file:line:column: field on stderr, or as JSON', async () => {
    const bad = files.write('bad.yaml', 'version: 1\nrules:\n  - id: a\n    effect: allow\n    paths: ["/agent/[x"]\n');
    const [text, json] = await Promise.all([agentctl(['policy', 'validate', bad]), agentctl(['policy', 'validate', bad, '--json'])]);
    expect([text.status, text.stdout]).toEqual([1, '']);
    expect(text.stderr).toMatch(new RegExp(`^${bad.replaceAll('.', '\\.')}:5:\\d+: rules\\[0\\]\\.paths\\[0\\]: is not valid`));
    expect(json.status).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, file: bad, line: 5, field: 'rules[0].paths[0]' });
  });

  it('a misspelt placeholder is exit 1 naming file, line, field and the known placeholders', async () => {
    const typo = files.write('typo.yaml', 'version: 1\nrules:\n  - id: own\n    effect: allow\n    syscalls: [SYS_OPEN]\n    paths: ["/agent/${agent}/**", "/agent/${agnet}/mem/**"]\n');
    const [text, json] = await Promise.all([agentctl(['policy', 'validate', typo]), agentctl(['policy', 'validate', typo, '--json'])]);
    expect([text.status, text.stderr]).toEqual([1, `${typo}:6:35: rules[0].paths[1]: unknown placeholder '\${agnet}' (known placeholders: \${agent}, in paths only)\n`]);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, file: typo, line: 6, field: 'rules[0].paths[1]' });
    const fixed = files.write('fixed.yaml', readFileSync(typo, 'utf8').replace('agnet', 'agent'));
    expect((await agentctl(['policy', 'validate', fixed])).status).toBe(0);
  });

  it('a missing file is exit 1 naming it', async () => {
    const r = await agentctl(['policy', 'validate', join(files.dir, 'nope.yaml')]);
    expect([r.status, r.stderr]).toEqual([1, `${join(files.dir, 'nope.yaml')}: no such file or directory\n`]);
  });
});

describe('agentctl policy test', () => {
  it('examples/policies/notes.test.yaml passes', async () => {
    const r = await agentctl(['policy', 'test', 'examples/policies/notes.test.yaml']);
    expect(r.status).toBe(0);
    expect(r.stdout.trimEnd().split('\n')).toEqual([
      'PASS reads its own notes',
      "PASS cannot read another agent's notes",
      'PASS deleting a note asks an operator',
      'PASS checkpoints are off limits, even for deletes',
      'PASS tools are not allowed at all',
      '5 passed, 0 failed',
    ]);
  });

  it('a failing test file exits 1 and says what was expected and what came', async () => {
    const policy = join(REPO, NOTES);
    const spec = files.write('failing.test.yaml', [
      `policy: ${policy}`,
      'tests:',
      '  - name: right',
      '    request: { agent: n, syscall: SYS_GETPID }',
      '    expect: allow',
      '  - name: wrong effect',
      '    request: { agent: n, syscall: SYS_UNLINK, path: /agent/n/mem/x, access: write }',
      '    expect: allow',
      '  - name: wrong rule',
      '    request: { agent: n, syscall: SYS_EXEC, tool: t }',
      '    expect: deny',
      '    rule: hands-off-checkpoints',
      '  - name: bad request',
      '    request: { syscall: SYS_GETPID }',
      '    expect: allow',
      '',
    ].join('\n'));
    const r = await agentctl(['policy', 'test', spec]);
    expect(r.status).toBe(1);
    expect(r.stdout.trimEnd().split('\n')).toEqual([
      'PASS right',
      'FAIL wrong effect: expected allow, got require_approval (deletes-need-approval: deleting memory needs an operator)',
      'FAIL wrong rule: expected deny (hands-off-checkpoints), got deny (default-deny: no rule matches)',
      "FAIL bad request: request: must have required property 'agent'",
      '1 passed, 3 failed',
    ]);
  });

  it('tests run in order on one engine: limits accumulate and `at` sets the clock', async () => {
    files.write('limited.yaml', [
      'version: 1',
      'rules:',
      '  - { id: twice, effect: allow, syscalls: [SYS_GETPID], limits: { max_calls: 2 } }',
      '  - { id: office, effect: allow, syscalls: [SYS_STAT], when: { days: [mon, tue, wed, thu, fri], hours: "09:00-17:00", timezone: America/New_York } }',
      '',
    ].join('\n'));
    const spec = files.write('limited.test.yaml', ['policy: limited.yaml', 'tests:', testCase('1st', 'SYS_GETPID', 'allow'), testCase('2nd', 'SYS_GETPID', 'allow'), testCase('3rd', 'SYS_GETPID', 'deny'),
      testCase('monday 10:00 in New York', 'SYS_STAT', 'allow', '2026-11-23T15:00:00Z'), testCase('monday 08:00 in New York', 'SYS_STAT', 'deny', '2026-11-23T13:00:00Z'),
      testCase('saturday', 'SYS_STAT', 'deny', '2026-11-28T15:00:00Z'), ''].join('\n'));
    const r = await agentctl(['policy', 'test', spec, '--json']);
    expect(r.status).toBe(0);
    const results = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { name: string; ok: boolean; got: { rule: string; reason: string } });
    expect(results.map((x) => [x.name, x.ok])).toEqual([['1st', true], ['2nd', true], ['3rd', true], ['monday 10:00 in New York', true], ['monday 08:00 in New York', true], ['saturday', true]]);
    expect(results[2]!.got).toMatchObject({ rule: 'twice', reason: 'limit: max_calls 2 reached' });
  });

  it('a missing test file, or a missing policy it names, exits 2 naming the file', async () => {
    const missing = join(files.dir, 'nope.test.yaml');
    const r = await agentctl(['policy', 'test', missing]);
    expect([r.status, r.stdout, r.stderr]).toEqual([2, '', `agentctl: ${missing}: no such file or directory\n`]);
    const spec = files.write('gone-policy.test.yaml', 'policy: gone.yaml\ntests: []\n');
    const gone = await agentctl(['policy', 'test', spec]);
    expect([gone.status, gone.stderr]).toEqual([2, `agentctl: ${join(files.dir, 'gone.yaml')}: no such file or directory\n`]);
  });

  it('a test file without a policy exits 2', async () => {
    const spec = files.write('nopolicy.test.yaml', 'tests: []\n');
    const r = await agentctl(['policy', 'test', spec]);
    expect([r.status, r.stderr]).toEqual([2, `agentctl: ${spec}: needs 'policy: FILE' and a 'tests' list\n`]);
  });
});

describe('agentctl policy explain', () => {
  it('shows the decision and which rules matched, and why the others did not', async () => {
    const r = await agentctl(['policy', 'explain', NOTES, '--request', explainRequest({ syscall: 'SYS_UNLINK', path: '/agent/notes/mem/x', access: 'write' })]);
    expect(r.status).toBe(0);
    expect(r.stdout.split('\n')).toEqual([
      'decision: require_approval by deletes-need-approval (deleting memory needs an operator)',
      `policy: ${NOTES_VERSION}`,
      '  · own-memory [allow] not for this syscall/tool',
      '  · stdio-and-self [allow] not for this syscall/tool',
      '  · writes [allow] not for this syscall/tool',
      '  ✓ deletes-need-approval [require_approval] matched',
      '  · hands-off-checkpoints [deny] no match: paths',
      '',
    ]);
  });

  it('a deny rule with on_violation; --json gives the full trace', async () => {
    const r = await agentctl(['policy', 'explain', NOTES, '--json', '--request', explainRequest({ syscall: 'SYS_UNLINK', path: '/agent/notes/state/checkpoints/1', access: 'write' })]);
    expect(r.status).toBe(0);
    const explained = JSON.parse(r.stdout) as { decision: { effect: string; rule: string; onViolation?: string }; rules: { id: string; matched: boolean }[] };
    expect(explained.decision).toMatchObject({ effect: 'deny', rule: 'hands-off-checkpoints', onViolation: 'SIGPOLICY', policyVersion: NOTES_VERSION });
    expect(explained.rules.filter((x) => x.matched).map((x) => x.id)).toEqual(['hands-off-checkpoints']);
  });

  it('a path argument not in canonical form: each path-glob rule says it did not read it (an allow does not match, a deny does)', async () => {
    const policy = files.write('paths.yaml', [
      'version: 1',
      'rules:',
      '  - { id: data-reads, effect: allow, syscalls: [SYS_EXEC], tools: [fs.read], args: [{ arg: path, glob: "/data/**" }] }',
      '  - { id: no-etc, effect: deny, syscalls: [SYS_EXEC], args: [{ arg: path, glob: "/etc/**" }] }',
      '',
    ].join('\n'));
    const r = await agentctl(['policy', 'explain', policy, '--request', JSON.stringify({ agent: 'a', syscall: 'SYS_EXEC', tool: 'fs.read', args: { path: '/data/../etc/shadow' } })]);
    expect(r.status).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe("decision: deny by no-etc (argument 'path' is not a canonical path (it has a '..' segment): a deny rule's path glob matches it (fail closed) (rule no-etc))");
    expect(lines.slice(2)).toEqual([
      "  · data-reads [allow] no match: args (argument 'path' is not a canonical path (it has a '..' segment): an allow or require_approval rule's path glob does not (fail closed) (rule data-reads))",
      "  ✓ no-etc [deny] matched (argument 'path' is not a canonical path (it has a '..' segment): a deny rule's path glob matches it (fail closed) (rule no-etc))",
      '',
    ]);
  });

  it('a bad request or no request exits 2', async () => {
    const [bad, none] = await Promise.all([agentctl(['policy', 'explain', NOTES, '--request', '{"syscall":"SYS_OPEN"}']), agentctl(['policy', 'explain', NOTES])]);
    expect([bad.status, bad.stderr]).toEqual([2, "agentctl: request: must have required property 'agent'\n"]);
    expect([none.status, none.stderr]).toEqual([2, 'agentctl: policy explain needs --request JSON\n']);
  });
});

describe('agentctl run examples/governed.ts under examples/policies/notes.yaml', () => {
  it('--approve=deny: the delete is refused, the forbidden read ends it with SIGPOLICY (136), and the log verifies', async () => {
    const r = await runGoverned('deny');
    expect(r.status).toBe(136);
    expect(r.stdout).toBe([
      'may I delete mem/working/todo.txt? require_approval (rule deletes-need-approval)',
      'wrote mem/working/todo.txt: water the plants',
      'not deleted: EACCES SYS_UNLINK not approved by auto:deny: --approve=deny',
      'now reading a checkpoint, which the policy forbids…',
      '',
    ].join('\n'));
    expect(r.stderr).toBe(
      'agentctl: pid 1 killed by SIGPOLICY (SYS_READDIR denied by hands-off-checkpoints)\n' +
        "agentctl: hint: to allow this call change the policy's rule hands-off-checkpoints, which denies it (checkpoints are written by the kernel only) (--policy)\n",
    );
    const verified = await agentctl(['audit', 'verify', r.log]);
    expect(verified.status).toBe(0);
    const records = r.text.trimEnd().split('\n').map((l) => JSON.parse(l) as ChainRecord);
    expect(verifyLog(r.text).records).toBe(records.length);
    expect(records.slice(-3).map((x) => [x.type, x.syscall ?? x.detail, x.decision, x.rule])).toEqual([
      ['syscall', 'SYS_READDIR', 'deny', 'hands-off-checkpoints'],
      ['signal', 'SIGPOLICY: SYS_READDIR denied by hands-off-checkpoints', undefined, undefined],
      ['exit', 'status 136', undefined, undefined],
    ]);
    expect(records.filter((x) => x.type === 'approval').map((x) => x.detail)).toEqual(['denied SYS_UNLINK /agent/notes/mem/working/todo.txt by auto:deny: --approve=deny']);
    expect(records.filter((x) => x.policy !== undefined).every((x) => x.policy === NOTES_VERSION)).toBe(true);
  });

  it('--approve=allow: the delete is approved; the forbidden read still ends it with 136', async () => {
    const r = await runGoverned('allow');
    expect(r.status).toBe(136);
    expect(r.stdout).toContain('deleted it: an operator approved\n');
    expect(verifyLog(r.text).ok).toBe(true);
    expect(r.text).toContain('granted SYS_UNLINK /agent/notes/mem/working/todo.txt by auto:allow');
  });
});
