/**
 * agentctl against a real agentd, as a child process for every command:
 * approvals, approve [--reason], deny, logs [--agent] [--decision], logs -f,
 * audit verify (daemon and file), policy get|set|validate|test|explain —
 * text and --json.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentctl, ctl, json, spawnAgent, startAgentd, until, type Agentd } from './helpers.ts';

export const POLICY = `version: 1
name: service-test
defaults: { approval_timeout_ms: 60000 }
rules:
  - id: own-tree
    effect: allow
    syscalls: [SYS_OPEN, SYS_STAT, SYS_READDIR, SYS_MKDIR]
    paths: ["/agent/\${agent}", "/agent/\${agent}/**"]
  - id: self
    effect: allow
    syscalls: [SYS_READ, SYS_WRITE, SYS_CLOSE, SYS_GETPID, SYS_EXIT, SYS_CHECKPOLICY, SYS_SIGACTION]
  - id: deletes-need-approval
    effect: require_approval
    syscalls: [SYS_UNLINK]
    paths: ["/agent/\${agent}/mem/**"]
  - id: reads-ok
    effect: allow
    syscalls: [file.read]
  - id: no-deletes
    effect: deny
    syscalls: [file.delete]
  - id: email-needs-a-human
    effect: require_approval
    syscalls: [email.send]
`;

/** An agent that asks to delete a note, then says what it was told. */
const DELETER = `sys.mkdir('mem/working', { recursive: true }); sys.writeFile('mem/working/a.txt', 'x'); console.log('ready');
try { sys.unlink('mem/working/a.txt'); console.log('unlinked'); } catch (e) { console.log('refused ' + e.errno); }
await new Promise(() => {});`;

let agentd: Agentd;
let policyFile: string;
beforeAll(async () => {
  agentd = await startAgentd('policy: policy.yaml\nlog: { durable: false }\n', { 'policy.yaml': POLICY });
  policyFile = agentd.write('policy.yaml', POLICY);
});
afterAll(() => agentd.remove());

const evaluate = (agent: string, action: string) => agentd.api('POST', '/v1/evaluate', { agent, action, resource: '/data/x' });
const output = async (pid: number) => (await agentd.api('GET', `/v1/processes/${pid}/output`)).body.stdout as string;
const pendingFor = async (pid: number) => {
  await until(async () => (await agentd.api('GET', '/v1/approvals')).body.some((a: { pid: number }) => a.pid === pid), `an approval for pid ${pid}`);
  return (await json<{ id: string; pid: number; syscall: string; path: string; rule: string }[]>(agentd, 'approvals')).find((a) => a.pid === pid)!;
};

describe('agentctl approvals, approve and deny', () => {
  it('approvals lists the blocked request; approve ID --reason lets it run and records who and why', async () => {
    const pid = await spawnAgent(agentd, DELETER, { id: 'deleter-1' });
    const pending = await pendingFor(pid);
    expect(pending).toMatchObject({ pid, syscall: 'SYS_UNLINK', path: '/agent/deleter-1/mem/working/a.txt', rule: 'deletes-need-approval' });
    const text = await agentctl(agentd, 'approvals');
    expect(text.stdout).toMatch(new RegExp(`${pending.id}\\s+pid ${pid} deleter-1\\s+SYS_UNLINK /agent/deleter-1/mem/working/a.txt\\s+rule deletes-need-approval`));
    const answer = await json(agentd, 'approve', pending.id, '--reason', 'looks fine');
    expect(answer).toMatchObject({ status: 'approved', answer: { approved: true, approver: 'operator', reason: 'looks fine' } });
    await until(async () => (await output(pid)).includes('unlinked'), 'the unlink to go through');
    const lines = (await agentctl(agentd, 'logs', '--agent', 'deleter-1', '--json')).stdout.trim().split('\n');
    const approval = lines.map((l) => JSON.parse(l) as { type: string; detail?: string }).find((r) => r.type === 'approval');
    expect(approval?.detail).toContain('operator');
  });

  it('deny ID refuses the request: the agent gets an errno; --as adds a display name to the principal', async () => {
    const pid = await spawnAgent(agentd, DELETER, { id: 'deleter-2' });
    const pending = await pendingFor(pid);
    const r = await agentctl(agentd, 'deny', pending.id, '--reason', 'not today', '--as', 'alice');
    expect(r).toMatchObject({ status: 0, stdout: `${pending.id}: denied by operator (as alice)\n` });
    await until(async () => /refused E[A-Z]+/.test(await output(pid)), 'the refusal');
    expect((await agentctl(agentd, 'approvals')).stdout).not.toContain(pending.id);
  });

  it('an evaluate request that needs approval shows up with pid 0 and is answered through agentctl', async () => {
    const asked = await evaluate('mailer', 'email.send');
    expect(asked.body).toMatchObject({ decision: 'require_approval', rule: 'email-needs-a-human' });
    const id = asked.body.approval_id as string;
    expect((await json<{ id: string; pid: number }[]>(agentd, 'approvals')).find((a) => a.id === id)).toMatchObject({ pid: 0, agentId: 'mailer' });
    expect(await agentctl(agentd, 'approve', id)).toMatchObject({ status: 0, stdout: `${id}: approved by operator\n` });
    expect((await agentd.api('GET', `/v1/approvals/${id}`)).body).toMatchObject({ status: 'approved' });
  });

  it("text an agent chose reaches the operator's terminal escaped: approvals, logs and vfs ls cannot erase or fake a line (found by an attacker pass)", async () => {
    const fake = '\x1b[2K\r\x1b[1A\x1b[2K\rap-40  pid 0 accounting  email.send /payees/electricity-co';
    const asked = await agentd.api('POST', '/v1/evaluate', { agent: 'forger', action: 'email.send', resource: `/payees/attacker${fake}` });
    const id = asked.body.approval_id as string;
    const approvals = (await agentctl(agentd, 'approvals')).stdout.split('\n').find((line) => line.startsWith(id))!;
    expect(approvals).toContain('/payees/attacker\\x1b[2K\\x0d\\x1b[1A');
    const logs = (await agentctl(agentd, 'logs', '--agent', 'forger')).stdout;
    expect(logs).toContain('/payees/attacker\\x1b[2K');
    // A file name with an escape and a newline in the agent's own tree.
    const pid = await spawnAgent(agentd, "sys.mkdir('mem', { recursive: true }); sys.writeFile('mem/evil\\x1b[31mRED\\nfake-line.txt', 'x'); console.log('ready'); await new Promise(() => {});", { id: 'namer' });
    await until(async () => (await output(pid)).includes('ready'), 'the file');
    const ls = (await agentctl(agentd, 'vfs', 'ls', String(pid), 'mem')).stdout;
    expect(ls.split('\n')).toContain('evil\\x1b[31mRED\\x0afake-line.txt');
    for (const text of [approvals, logs, ls]) expect([text.includes('\x1b'), text.includes('\r')]).toEqual([false, false]);
    await agentctl(agentd, 'deny', id);
  });

  it('approving an unknown or already answered id is one line and status 1', async () => {
    const r = await agentctl(agentd, 'approve', 'ap-99999');
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('approvals with nothing pending says so', async () => {
    const fresh = await startAgentd();
    try {
      expect(await agentctl(fresh, 'approvals')).toMatchObject({ status: 0, stdout: 'no pending approvals\n' });
      expect(await json(fresh, 'approvals')).toEqual([]);
    } finally {
      await fresh.remove();
    }
  });
});

describe('agentctl logs', () => {
  it('logs filters by agent and decision; --json is one record per line; --limit keeps the last N', async () => {
    for (const action of ['file.read', 'file.delete', 'file.read']) await evaluate('logger', action);
    const mine = (await agentctl(agentd, 'logs', '--agent', 'logger', '--json')).stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(mine.map((r) => [r.syscall, r.decision, r.rule])).toEqual([['file.read', 'allow', 'reads-ok'], ['file.delete', 'deny', 'no-deletes'], ['file.read', 'allow', 'reads-ok']]);
    const denied = (await agentctl(agentd, 'logs', '--agent', 'logger', '--decision', 'deny', '--json')).stdout.trim().split('\n');
    expect(denied.map((l) => JSON.parse(l).syscall)).toEqual(['file.delete']);
    const text = await agentctl(agentd, 'logs', '--agent', 'logger', '--limit', '1');
    expect(text.stdout.trim().split('\n')).toHaveLength(1);
    expect(text.stdout).toMatch(/pid 0 logger file\.read \/data\/x allow \(reads-ok\)\n$/);
  });

  it('logs -f follows live: a decision made after it started is printed; SIGINT ends it with 0', async () => {
    const followers = async () => Number(/^agentk_decision_followers (\d+)$/m.exec((await agentd.api('GET', '/metrics')).text)?.[1]);
    const before = await followers();
    const follower = ctl(agentd, ['logs', '-f', '--json', '--agent', 'followed']);
    // The follower prints only what is decided once it is subscribed, which agentd's gauge of followers shows.
    await until(async () => (await followers()) > before, () => `the follower to subscribe (it printed ${JSON.stringify(follower.stdout())})`);
    const seq = (await evaluate('followed', 'file.delete')).body.seq as number;
    await until(() => follower.stdout().includes('\n'), () => `the follower to print seq ${seq} (it printed ${JSON.stringify(follower.stdout())})`);
    const first = JSON.parse(follower.stdout().split('\n')[0]!);
    expect(first).toMatchObject({ seq, agent: 'followed', syscall: 'file.delete', decision: 'deny', rule: 'no-deletes' });
    follower.child.kill('SIGINT');
    const done = await follower.done;
    expect(done.status).toBe(0);
    expect(done.stdout.trim().split('\n').map((line) => JSON.parse(line).seq)).toEqual([seq]);
  });
});

describe('agentctl audit verify', () => {
  it("verifies the daemon's log, and the same log as a file; a tampered copy fails with 1", async () => {
    const text = await agentctl(agentd, 'audit', 'verify');
    expect(text.status).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`^ok: \\d+ records verify; head [0-9a-f]{64} \\(${agentd.logFile}\\)\\n$`));
    const r = await json<{ ok: boolean; records: number; head: string; file: string }>(agentd, 'audit', 'verify');
    expect(r).toMatchObject({ ok: true, file: agentd.logFile });
    expect(r.records).toBeGreaterThan(3);
    expect(await agentctl(undefined, 'audit', 'verify', agentd.logFile)).toMatchObject({ status: 0 });
    const lines = readFileSync(agentd.logFile, 'utf8').split('\n');
    lines[1] = lines[1]!.replace('"allow"', '"deny"').replace('"spawn"', '"exit"');
    const tampered = agentd.write('tampered.jsonl', lines.join('\n'));
    const bad = await agentctl(undefined, 'audit', 'verify', tampered);
    expect(bad.status).toBe(1);
  });
});

describe('agentctl policy', () => {
  it('policy get prints the version, rule count and source; --json too', async () => {
    const text = await agentctl(agentd, 'policy', 'get');
    expect(text.stdout).toMatch(/^# version sha256:[0-9a-f]{64} \(6 rules\)\nversion: 1\nname: service-test\n/);
    expect(await json(agentd, 'policy', 'get')).toMatchObject({ rules: 6, source: POLICY });
  });

  it('policy set FILE replaces it for the next decision; a bad file is refused with one line and the old one stays', async () => {
    const before = (await json<{ version: string }>(agentd, 'policy', 'get')).version;
    const bad = agentd.write('bad.yaml', POLICY.replace('effect: deny', 'effect: maybe'));
    const refused = await agentctl(agentd, 'policy', 'set', bad);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/^agentctl: policy refused, the old one stays in force: .*\n$/);
    expect((await json<{ version: string }>(agentd, 'policy', 'get')).version).toBe(before);

    const lenient = agentd.write('lenient.yaml', POLICY.replace('effect: deny', 'effect: allow'));
    const set = await json<{ ok: boolean; version: string; previous: string }>(agentd, 'policy', 'set', lenient);
    expect(set).toMatchObject({ ok: true, previous: before });
    expect((await evaluate('setter', 'file.delete')).body).toMatchObject({ decision: 'allow', rule: 'no-deletes', policy_version: set.version });
    expect(await agentctl(agentd, 'policy', 'set', policyFile)).toMatchObject({ status: 0, stdout: `policy replaced: ${set.version} -> ${before}\n` });
  });

  it('policy validate, test and explain work on files, with --json', async () => {
    expect(await agentctl(undefined, 'policy', 'validate', policyFile)).toMatchObject({ status: 0 });
    expect(await json(agentd, 'policy', 'validate', policyFile)).toMatchObject({ ok: true, rules: 6 });
    const broken = agentd.write('broken.yaml', 'version: 1\nrules:\n  - id: x\n    effect: sometimes\n');
    const invalid = await agentctl(undefined, 'policy', 'validate', broken);
    expect(invalid.status).toBe(1);
    expect(invalid.stdout + invalid.stderr).toMatch(/broken\.yaml.*4/);

    const tests = agentd.write('policy.test.yaml', ['policy: policy.yaml', 'tests:', '  - name: deletes are denied', '    request: { agent: a, syscall: file.delete }', '    expect: deny', '    rule: no-deletes', ''].join('\n'));
    expect(await agentctl(undefined, 'policy', 'test', tests)).toMatchObject({ status: 0 });
    const failing = agentd.write('failing.test.yaml', readFileSync(tests, 'utf8').replace('expect: deny', 'expect: allow'));
    expect((await agentctl(undefined, 'policy', 'test', failing)).status).toBe(1);

    const request = JSON.stringify({ agent: 'a', syscall: 'email.send' });
    const explained = await json<{ decision: { effect: string; rule: string } }>(agentd, 'policy', 'explain', policyFile, '--request', request);
    expect(JSON.stringify(explained)).toContain('email-needs-a-human');
    expect((await agentctl(undefined, 'policy', 'explain', policyFile, '--request', request)).stdout).toContain('require_approval');
  });
});
