/**
 * Principals on a real agentd: agent credentials made, listed and revoked
 * with agentctl; what an agent credential may do (evaluate as its own agent
 * with what it was granted, read its own approvals) and everything it may
 * not (answer approvals — the self-approval attack —, act as another agent,
 * spend another agent's limits, reach any operator route); approvals record
 * the principal that answered; credentials survive a restart; a credentials
 * file agentd cannot account for stops it from starting.
 */
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentctl, ctl, IDLE_AGENT, json, node, startAgentd, type Agentd } from './helpers.ts';

const POLICY = `version: 1
name: principals-test
defaults: { approval_timeout_ms: 60000 }
rules:
  - id: finance-reads
    effect: allow
    syscalls: [file.read]
    labels: { team: finance }
  - id: mail-needs-a-human
    effect: require_approval
    syscalls: [email.send]
  - id: pay-once
    effect: allow
    syscalls: [payment.send]
    limits: { max_calls: 1 }
  - id: audited-export
    effect: allow
    syscalls: [data.export]
    capabilities: [export]
  - id: own-fds
    effect: allow
    syscalls: [SYS_WRITE, SYS_READ, SYS_CLOSE, SYS_GETPID, SYS_EXIT]
`;

interface Created {
  name: string;
  agent: string;
  labels: Record<string, string>;
  capabilities: string[];
  createdAt: number;
  token: string;
}

let agentd: Agentd;
beforeAll(async () => {
  agentd = await startAgentd('policy: policy.yaml\n', { 'policy.yaml': POLICY });
});
afterAll(() => agentd.remove());

/** credential creates an agent credential through the API and returns it with its token. */
async function credential(daemon: Agentd, grant: { agent: string; name?: string; labels?: Record<string, string>; capabilities?: string[] }): Promise<Created> {
  const r = await daemon.api('POST', '/v1/principals', grant);
  if (r.status !== 201) throw new Error(`create failed: ${r.text}`);
  return r.body as Created;
}

const records = async (filter: string) => (await agentd.api('GET', `/v1/decisions?${filter}`)).body as { type: string; agent: string; syscall?: string; decision?: string; rule?: string; detail?: string }[];
const forbiddenCount = async () => Number(/^agentk_http_forbidden_total (\d+)$/m.exec((await agentd.api('GET', '/metrics')).text)?.[1]);
const lines = (text: string) => text.split('\n').filter((l) => l !== '');

describe('agentctl principal create, ls, revoke', () => {
  it('create prints the token once; agentd keeps only its SHA-256 in a 0600 file; ls never shows it', async () => {
    const created = await json<Created>(agentd, 'principal', 'create', '--agent', 'lister', '--label', 'team=finance', '--label', 'tier=2', '--capability', 'export', '--name', 'lister-key');
    expect(created).toMatchObject({ name: 'lister-key', agent: 'lister', labels: { team: 'finance', tier: '2' }, capabilities: ['export'] });
    expect(created.token).toMatch(/^agk_[0-9a-f]{64}$/);

    const file = join(agentd.stateDir, 'principals.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const stored = readFileSync(file, 'utf8');
    expect(stored).not.toContain(created.token);
    expect(stored).not.toContain(created.token.slice(4));
    expect(JSON.parse(stored).principals).toContainEqual(expect.objectContaining({ name: 'lister-key', sha256: createHash('sha256').update(created.token).digest('hex') }));

    const listed = await json<Record<string, unknown>[]>(agentd, 'principal', 'ls');
    const entry = listed.find((p) => p.name === 'lister-key');
    expect(entry).toEqual({ name: 'lister-key', agent: 'lister', labels: { team: 'finance', tier: '2' }, capabilities: ['export'], createdAt: created.createdAt });
    const text = await agentctl(agentd, 'principal', 'ls');
    expect(text.status).toBe(0);
    expect(text.stdout).toMatch(/^NAME\s+AGENT\s+LABELS\s+CAPABILITIES\s+CREATED$/m);
    expect(text.stdout).toMatch(/^lister-key\s+lister\s+team=finance,tier=2\s+export\s+\d{4}-/m);
    expect(text.stdout).not.toContain('agk_');

    const human = await agentctl(agentd, 'principal', 'create', '--agent', 'lister', '--name', 'lister-2');
    expect(human.status).toBe(0);
    expect(lines(human.stdout)).toEqual(['principal lister-2: agent lister, labels -, capabilities -', expect.stringMatching(/^token \(shown once; agentd keeps only its hash\): agk_[0-9a-f]{64}$/)]);

    const creation = (await records('type=auth&agent=lister')).map((r) => r.detail);
    expect(creation).toContain('credential lister-key for agent lister created (labels team=finance,tier=2; capabilities export) by operator');
  });

  it('a name already taken, a bad agent id or label is refused with one line', async () => {
    await credential(agentd, { agent: 'dup' });
    const taken = await agentctl(agentd, 'principal', 'create', '--agent', 'dup');
    expect(taken.status).toBe(1);
    expect(lines(taken.stderr)).toEqual(['agentctl: a credential named dup exists: revoke it first, or choose another name']);
    expect((await agentctl(agentd, 'principal', 'create', '--agent', '../etc')).status).toBe(1);
    const label = await agentctl(agentd, 'principal', 'create', '--agent', 'x', '--label', 'novalue');
    expect(lines(label.stderr)).toEqual(['agentctl: --label novalue: write it as key=value']);
    expect((await agentd.api('POST', '/v1/principals', { agent: 'x', labels: { a: 1 } })).status).toBe(400);
  });

  it('revoke: the token is refused (401) from the next request on; an unknown name is status 1', async () => {
    const c = await credential(agentd, { agent: 'short-lived' });
    expect((await agentd.api('GET', '/v1/whoami', undefined, { token: c.token })).body).toMatchObject({ principal: 'agent', name: 'short-lived' });
    const r = await agentctl(agentd, 'principal', 'revoke', 'short-lived');
    expect(r).toMatchObject({ status: 0, stdout: 'revoked principal short-lived (agent short-lived): its token is refused from now on\n' });
    for (const [method, path, body] of [['GET', '/v1/whoami'], ['POST', '/v1/evaluate', { action: 'file.read' }]] as const) {
      expect((await agentd.api(method, path, body, { token: c.token })).status).toBe(401);
    }
    expect((await json<{ name: string }[]>(agentd, 'principal', 'ls')).map((p) => p.name)).not.toContain('short-lived');
    const again = await agentctl(agentd, 'principal', 'revoke', 'short-lived');
    expect(again.status).toBe(1);
    expect(lines(again.stderr)).toEqual(['agentctl: no credential named short-lived']);
  });
});

describe('the self-approval attack', () => {
  it('an agent credential cannot approve or deny its own request: 403, and the approval stays pending', async () => {
    const mailer = await credential(agentd, { agent: 'mailer' });
    const asked = await agentd.api('POST', '/v1/evaluate', { action: 'email.send', tool: 'email' }, { token: mailer.token });
    expect(asked.body).toMatchObject({ decision: 'require_approval', rule: 'mail-needs-a-human' });
    const id = asked.body.approval_id as string;

    for (const [verdict, body] of [['approve', undefined], ['approve', { approver: 'operator', reason: 'fine' }], ['deny', {}]] as const) {
      const r = await agentd.api('POST', `/v1/approvals/${id}/${verdict}`, body, { token: mailer.token });
      expect(r.status).toBe(403);
      expect(r.body).toMatchObject({ errno: 'EACCES', error: expect.stringContaining('principal mailer (agent mailer) may not call POST /v1/approvals/:id/') });
    }
    expect((await agentd.api('GET', `/v1/approvals/${id}`, undefined, { token: mailer.token })).body).toMatchObject({ status: 'pending', approval: { id, agentId: 'mailer' } });
    expect((await agentd.api('GET', `/v1/approvals/${id}`)).body.status).toBe('pending');
    expect((await json<{ id: string }[]>(agentd, 'approvals')).map((a) => a.id)).toContain(id);
    expect((await records('type=approval&agent=mailer')).length).toBe(0);

    // agentctl with the agent's token: status 4 and one line, like a wrong token.
    const r = await ctl(agentd, ['approve', id], { AGENTD_TOKEN: mailer.token }).done;
    expect(r.status).toBe(4);
    expect(lines(r.stderr)).toEqual([expect.stringMatching(/^agentctl: agentd refused this credential \(403\): principal mailer \(agent mailer\) may not call POST/)]);
    expect((await agentd.api('GET', `/v1/approvals/${id}`)).body.status).toBe('pending');
  });

  it("the operator's answer records the principal: operator (as alice), in the approval and in the decision log", async () => {
    const mailer = await credential(agentd, { agent: 'mailer-2' });
    const id = (await agentd.api('POST', '/v1/evaluate', { action: 'email.send' }, { token: mailer.token })).body.approval_id as string;
    const answered = await agentctl(agentd, 'approve', id, '--as', 'alice', '--reason', 'checked the draft');
    expect(answered).toMatchObject({ status: 0, stdout: `${id}: approved by operator (as alice)\n` });
    const seen = await agentd.api('GET', `/v1/approvals/${id}`, undefined, { token: mailer.token });
    expect(seen.body).toMatchObject({ status: 'approved', answer: { approved: true, approver: 'operator (as alice)', reason: 'checked the draft' } });
    expect((await records('type=approval&agent=mailer-2')).map((r) => r.detail)).toEqual([`granted email.send (${id}) by operator (as alice): checked the draft`]);

    // Without a display name the principal alone; a display name can never stand alone.
    const id2 = (await agentd.api('POST', '/v1/evaluate', { action: 'email.send' }, { token: mailer.token })).body.approval_id as string;
    expect((await agentd.api('POST', `/v1/approvals/${id2}/deny`, { approver: 'mailer-2' })).body.answer).toMatchObject({ approver: 'operator (as mailer-2)' });
    const id3 = (await agentd.api('POST', '/v1/evaluate', { action: 'email.send' }, { token: mailer.token })).body.approval_id as string;
    expect((await agentd.api('POST', `/v1/approvals/${id3}/approve`, {})).body.answer).toMatchObject({ approver: 'operator' });
  });

  it("an agent credential reads only its own agent's approvals; another's or an unknown id is the same 403", async () => {
    const mine = await credential(agentd, { agent: 'asker' });
    const theirs = await credential(agentd, { agent: 'snoop' });
    const id = (await agentd.api('POST', '/v1/evaluate', { action: 'email.send' }, { token: mine.token })).body.approval_id as string;
    for (const target of [id, 'ap-999999']) {
      const r = await agentd.api('GET', `/v1/approvals/${target}?wait=5000`, undefined, { token: theirs.token });
      expect(r.status).toBe(403);
      expect(r.body.error).toBe(`principal snoop (agent snoop) may read only the approvals its own evaluate calls opened, and ${target} is not one of them`);
    }
    expect((await agentd.api('GET', `/v1/approvals/${id}`, undefined, { token: mine.token })).status).toBe(200);
  });
});

describe('evaluate as its own agent only', () => {
  it("naming another agent is 403, and that agent's max_calls is not spent nor anything recorded as it", async () => {
    const mallory = await credential(agentd, { agent: 'mallory' });
    const forbidden = await forbiddenCount();
    for (const agent of ['payer', { id: 'payer' }, { id: 'payer', labels: {} }]) {
      const r = await agentd.api('POST', '/v1/evaluate', { agent, action: 'payment.send' }, { token: mallory.token });
      expect(r.status).toBe(403);
      expect(r.body).toEqual({ errno: 'EACCES', error: 'principal mallory (agent mallory) may evaluate only as agent mallory, not payer' });
    }
    expect(await forbiddenCount()).toBe(forbidden + 3);
    expect((await records('agent=payer')).length).toBe(0);
    // payer's one call is still there for the operator's request, then spent.
    expect((await agentd.api('POST', '/v1/evaluate', { agent: 'payer', action: 'payment.send' })).body).toMatchObject({ decision: 'allow', rule: 'pay-once' });
    expect((await agentd.api('POST', '/v1/evaluate', { agent: 'payer', action: 'payment.send' })).body).toMatchObject({ decision: 'deny', reason: expect.stringContaining('max_calls 1 reached') });
    expect((await records('agent=payer')).map((r) => r.decision)).toEqual(['allow', 'deny']);
    // Its own agent, named or not, is fine.
    expect((await agentd.api('POST', '/v1/evaluate', { agent: 'mallory', action: 'payment.send' }, { token: mallory.token })).body.decision).toBe('allow');
  });

  it('labels and capabilities come from the credential: claiming more is 403, claiming what it holds is allowed', async () => {
    const plain = await credential(agentd, { agent: 'plain' });
    const finance = await credential(agentd, { agent: 'fin', labels: { team: 'finance' }, capabilities: ['export'] });
    const asPlain = (body: object) => agentd.api('POST', '/v1/evaluate', body, { token: plain.token });
    const asFinance = (body: object) => agentd.api('POST', '/v1/evaluate', body, { token: finance.token });

    expect((await asPlain({ agent: { id: 'plain', labels: { team: 'finance' } }, action: 'file.read' })).body).toEqual({
      errno: 'EACCES',
      error: 'principal plain (agent plain) was not granted the label team=finance',
    });
    expect((await asPlain({ agent: { id: 'plain', capabilities: ['export'] }, action: 'data.export' })).body.error).toBe('principal plain (agent plain) was not granted the capability export');
    expect((await asPlain({ action: 'file.read' })).body).toMatchObject({ decision: 'deny' });
    expect((await asPlain({ action: 'data.export' })).body).toMatchObject({ decision: 'deny' });

    expect((await asFinance({ action: 'file.read' })).body).toMatchObject({ decision: 'allow', rule: 'finance-reads' });
    expect((await asFinance({ action: 'data.export' })).body).toMatchObject({ decision: 'allow', rule: 'audited-export' });
    expect((await asFinance({ agent: { id: 'fin', labels: { team: 'finance' }, capabilities: ['export'] }, action: 'file.read' })).body.decision).toBe('allow');
    expect((await asFinance({ agent: { id: 'fin', labels: { team: 'sales' } }, action: 'file.read' })).status).toBe(403);
    expect((await records('agent=plain&type=syscall')).map((r) => r.syscall)).toEqual(['file.read', 'data.export']);
  });

  it('the operator still names the agent: without one it is 400', async () => {
    const r = await agentd.api('POST', '/v1/evaluate', { action: 'file.read' });
    expect(r).toMatchObject({ status: 400, body: { error: "body must have required property 'agent'" } });
  });
});

describe('what an agent credential may reach', () => {
  const OPERATOR_ONLY: [string, string, unknown?][] = [
    ['GET', '/v1/processes'],
    ['POST', '/v1/processes', { source: IDLE_AGENT }],
    ['GET', '/v1/processes/1'],
    ['POST', '/v1/processes/1/signal', { signal: 'SIGKILL' }],
    ['POST', '/v1/processes/1/checkpoint'],
    ['GET', '/v1/processes/1/output'],
    ['GET', '/v1/processes/1/vfs/ls'],
    ['GET', '/v1/processes/1/vfs/cat?path=x'],
    ['GET', '/v1/approvals'],
    ['POST', '/v1/approvals/ap-1/approve', {}],
    ['POST', '/v1/approvals/ap-1/deny', {}],
    ['GET', '/v1/decisions'],
    ['GET', '/v1/decisions/stream'],
    ['POST', '/v1/audit/verify'],
    ['GET', '/v1/policy'],
    ['PUT', '/v1/policy', { source: 'version: 1\nrules: []\n' }],
    ['POST', '/v1/policy/validate', { source: 'version: 1\nrules: []\n' }],
    ['GET', '/v1/principals'],
    ['POST', '/v1/principals', { agent: 'escalated' }],
    ['DELETE', '/v1/principals/dup'],
    ['GET', '/v1/cluster'],
    ['GET', '/metrics'],
    ['GET', '/v1/no-such-route'],
  ];
  let agent: Created;
  beforeAll(async () => {
    agent = await credential(agentd, { agent: 'outsider' });
  });

  it.each(OPERATOR_ONLY)('%s %s is 403 with a clear message, and has no effect', async (method, path, body) => {
    const r = await agentd.api(method, path, body, { token: agent.token });
    expect(r.status).toBe(403);
    expect(r.body).toEqual({ errno: 'EACCES', error: expect.stringMatching(/^principal outsider \(agent outsider\) may not call \S+ \S+: an agent credential may call only POST \/v1\/evaluate/) });
  });

  it('a refusal names the scope in WWW-Authenticate (RFC 6750), so clients tell it from a kernel EACCES', async () => {
    const res = await fetch(`${agentd.url}/v1/processes`, { headers: { authorization: `Bearer ${agent.token}` } });
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toBe('Bearer error="insufficient_scope"');
  });

  it('refused calls change nothing: no process, the policy stays, no credential made or revoked', async () => {
    const version = (await agentd.api('GET', '/v1/policy')).body.version;
    const names = (await agentd.api('GET', '/v1/principals')).body.map((p: { name: string }) => p.name);
    expect(names).toContain('dup');
    expect(names).not.toContain('escalated');
    expect((await agentd.api('GET', '/v1/policy')).body.version).toBe(version);
    expect((await agentd.api('GET', '/v1/processes')).body).toEqual([]);
  });

  it('/healthz, /readyz, /openapi.json and /v1/whoami answer an agent credential', async () => {
    const get = (path: string) => agentd.api('GET', path, undefined, { token: agent.token });
    expect(await get('/healthz')).toMatchObject({ status: 200, body: { ok: true } });
    expect(await get('/readyz')).toMatchObject({ status: 200, body: { ready: true } });
    expect((await get('/openapi.json')).body.paths['/v1/evaluate']).toBeDefined();
    expect((await get('/v1/whoami')).body).toEqual({ principal: 'agent', name: 'outsider', agent: 'outsider', labels: {}, capabilities: [], createdAt: agent.createdAt });
    expect((await agentd.api('GET', '/v1/whoami')).body).toEqual({ principal: 'operator' });
  });

  it('agentctl with an agent credential: status 4 and one line', async () => {
    for (const args of [['ps'], ['principal', 'ls'], ['policy', 'get'], ['logs', '-f']]) {
      const r = await ctl(agentd, args, { AGENTD_TOKEN: agent.token }).done;
      expect(r.status, args.join(' ')).toBe(4);
      expect(lines(r.stderr), args.join(' ')).toEqual([expect.stringMatching(/^agentctl: agentd refused this credential \(403\)/)]);
    }
  });
});

describe('credentials on disk', () => {
  it('survive a restart on the same state dir, and so does a revocation', async () => {
    const first = await startAgentd('policy: policy.yaml\n', { 'policy.yaml': POLICY });
    let second: Agentd | undefined;
    let third: Agentd | undefined;
    try {
      const kept = await credential(first, { agent: 'fin', labels: { team: 'finance' } });
      const dropped = await credential(first, { agent: 'gone' });
      expect((await first.api('DELETE', '/v1/principals/gone')).status).toBe(200);
      await first.stop();
      second = await startAgentd('policy: policy.yaml\n', { 'policy.yaml': POLICY }, { stateDir: first.stateDir });
      expect((await second.api('POST', '/v1/evaluate', { action: 'file.read' }, { token: kept.token })).body).toMatchObject({ decision: 'allow', rule: 'finance-reads' });
      expect((await second.api('GET', '/v1/whoami', undefined, { token: dropped.token })).status).toBe(401);
      expect((await second.api('POST', '/v1/processes', { source: IDLE_AGENT }, { token: kept.token })).status).toBe(403);
      // A credentials file someone opened up is tightened again.
      await second.stop();
      chmodSync(join(first.stateDir, 'principals.json'), 0o644);
      third = await startAgentd('', {}, { stateDir: first.stateDir });
      expect(statSync(join(first.stateDir, 'principals.json')).mode & 0o777).toBe(0o600);
      expect((await third.api('GET', '/v1/whoami', undefined, { token: kept.token })).body).toMatchObject({ principal: 'agent', name: 'fin' });
    } finally {
      await third?.remove();
      await second?.remove();
      await first.remove();
    }
  });

  it.each([
    ['not JSON', '{ this is not json', /principals\.json: not JSON/],
    ['not a principals file', JSON.stringify({ version: 1, principals: [{ name: 'x', agent: 'x', labels: {}, capabilities: [], sha256: 'short', createdAt: 1 }] }), /principals\.json: not a principals file/],
  ])('a credentials file that is %s stops agentd from starting', async (_what, text, message) => {
    const stateDir = join(mkdtempSync(join(tmpdir(), 'agentd-principals-')), 'state');
    mkdirSync(stateDir, { mode: 0o700 });
    writeFileSync(join(stateDir, 'principals.json'), text, { mode: 0o600 });
    try {
      const r = await node('bin/agentd.ts', undefined, ['--port', '0', '--state-dir', stateDir]).done;
      expect(r.status).toBe(2);
      expect(lines(r.stderr)).toEqual([expect.stringMatching(message)]);
      expect(r.stdout).not.toContain('listening');
    } finally {
      rmSync(join(stateDir, '..'), { recursive: true, force: true });
    }
  });
});
