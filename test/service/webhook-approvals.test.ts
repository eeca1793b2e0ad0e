/**
 * Approvals answered by a webhook (approvals.mode webhook), against a real
 * agentd and a webhook server on loopback: the question arrives signed
 * (HMAC-SHA256 of timestamp.body with the shared secret) and names its
 * callback; an answer in the webhook's reply settles it at once (an agent's
 * approved tool call then runs), a 202 leaves it to a signed callback, which
 * works once — a bad signature, a stale timestamp or a signature for
 * another agentd's question of the same id is 401 and changes nothing, a
 * second answer is 409 — a webhook that fails denies at once, and
 * one that never calls back leaves the question to its timeout (deny).
 * Every answer is recorded with approver `webhook`.
 */
import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgentd, until, type Agentd } from './helpers.ts';

const SECRET = 'a-shared-secret-of-some-length';
const POLICY = `version: 1
defaults: { approval_timeout_ms: 1500 }
rules:
  - { id: mail-needs-a-human, effect: require_approval, syscalls: [email.send] }
  - { id: tools-need-a-human, effect: require_approval, syscalls: [SYS_EXEC] }
  - { id: the-rest, effect: allow }
`;

type Mode = 'approve' | 'deny' | 'later' | 'fail';
interface Question {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly json: { id: string; agent: string; syscall: string; tool?: string; callback: string; policy_version?: string; deadline: number; requested_at: number };
}

const hmac = (payload: string) => `sha256=${createHmac('sha256', SECRET).update(payload).digest('hex')}`;

describe('approvals answered by a webhook', { timeout: 60_000 }, () => {
  let mode: Mode = 'approve';
  const questions: Question[] = [];
  const webhook = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (c: string) => (body += c));
    req.on('end', () => {
      questions.push({ headers: req.headers, body, json: JSON.parse(body) as Question['json'] });
      if (mode === 'later') return res.writeHead(202).end();
      if (mode === 'fail') return res.writeHead(500).end('boom');
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ approved: mode === 'approve', reason: `the webhook said ${mode}` }));
    });
  });
  let agentd: Agentd;

  /** ask opens an external agent's question and returns its id and the webhook's copy of it. */
  const ask = async (): Promise<{ id: string; question: Question }> => {
    const before = questions.length;
    const asked = await agentd.api('POST', '/v1/evaluate', { agent: 'mailer', action: 'email.send', arguments: { to: 'a@example.com' } });
    const id = (asked.body as { approval_id: string }).approval_id;
    await until(() => questions.length > before, 'the webhook to be asked');
    return { id, question: questions.at(-1)! };
  };
  const status = async (id: string, wait = 0) => (await agentd.api('GET', `/v1/approvals/${id}?wait=${wait}`)).body as { status: string; answer?: { approver: string; reason: string } };
  /** callback answers question `id` as the webhook does, signed over callback.<timestamp>.<id>.<requested_at>.<verdict>.<reason>. */
  const callback = (id: string, approved: boolean, reason: string, sign: { secret?: string; timestamp?: string; requestedAt?: number } = {}) => {
    const timestamp = sign.timestamp ?? String(Date.now());
    const requestedAt = sign.requestedAt ?? questions.find((q) => q.json.id === id)!.json.requested_at;
    const signature = `sha256=${createHmac('sha256', sign.secret ?? SECRET).update(`callback.${timestamp}.${id}.${requestedAt}.${approved ? 'approve' : 'deny'}.${reason}`).digest('hex')}`;
    return fetch(`${agentd.url}/v1/approvals/${id}/callback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-agent-kernel-timestamp': timestamp, 'x-agent-kernel-signature': signature },
      body: JSON.stringify({ approved, reason }),
    });
  };

  beforeAll(async () => {
    await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', () => resolve()));
    const url = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/approve`;
    agentd = await startAgentd(`policy: policy.yaml\napprovals:\n  mode: webhook\n  webhook: { url: "${url}", secret_file: secret.txt, timeout_ms: 1000 }\n`, { 'policy.yaml': POLICY, 'secret.txt': `${SECRET}\n` });
  });
  afterAll(async () => {
    await agentd?.remove();
    webhook.close();
  });

  it('sends each question signed, naming the call, the rule, the policy version and where to call back', async () => {
    mode = 'approve';
    const { id, question } = await ask();
    const timestamp = question.headers['x-agent-kernel-timestamp'] as string;
    expect(question.headers['x-agent-kernel-signature']).toBe(hmac(`${timestamp}.${question.body}`));
    expect(question.json).toMatchObject({ id, agent: 'mailer', syscall: 'email.send', rule: 'mail-needs-a-human', policy_version: expect.stringMatching(/^sha256:/), digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/), callback: `${agentd.url}/v1/approvals/${id}/callback` });
    expect(await status(id, 5000)).toMatchObject({ status: 'approved', answer: { approver: 'webhook', reason: 'the webhook said approve' } });
  });

  it("an agent's tool call waits for the webhook's answer and runs once it approves", async () => {
    mode = 'approve';
    const spawned = await agentd.api('POST', '/v1/processes', { source: "const t = sys.exec('time.now', {}); console.log('ran ' + typeof t.output);", filename: 'timer.js', manifest: { id: 'timer', capabilities: ['tool:time.now'] } });
    const pid = (spawned.body as { pid: number }).pid;
    let seen: unknown;
    await until(async () => {
      seen = (await agentd.api('GET', `/v1/processes/${pid}/output`)).body;
      return (seen as { stdout: string }).stdout === 'ran object\n';
    }, () => `the approved tool call to run (output: ${JSON.stringify(seen)})`);
    expect(questions.at(-1)!.json).toMatchObject({ agent: 'timer', syscall: 'SYS_EXEC', tool: 'time.now' });
  });

  it('a 202 leaves the answer to a signed callback: a bad signature or a stale timestamp changes nothing, the first good answer counts, a second is 409', async () => {
    mode = 'later';
    const { id } = await ask();
    expect((await status(id)).status).toBe('pending');
    expect((await callback(id, true, 'forged', { secret: 'not-the-secret-at-all' })).status).toBe(401);
    expect((await callback(id, true, 'replayed', { timestamp: String(Date.now() - 10 * 60_000) })).status).toBe(401);
    // A callback signed for another agentd's question of the same id (asked at another time) answers nothing here.
    expect((await callback(id, true, 'elsewhere', { requestedAt: 1 })).status).toBe(401);
    const unsigned = await fetch(`${agentd.url}/v1/approvals/${id}/callback`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"approved":true}' });
    expect(unsigned.status).toBe(401);
    expect((await status(id)).status).toBe('pending');
    const first = await callback(id, false, 'not today');
    expect(first.status).toBe(200);
    expect(await status(id)).toMatchObject({ status: 'denied', answer: { approver: 'webhook', reason: 'not today' } });
    expect((await callback(id, true, 'changed my mind')).status).toBe(409);
    expect(await status(id)).toMatchObject({ status: 'denied' });
    await until(() => readFileSync(agentd.logFile, 'utf8').includes(`denied email.send (${id}) by webhook: not today`), 'the answer to be recorded');
  });

  it('a webhook that fails denies at once; one that never calls back leaves the question to its timeout', async () => {
    mode = 'fail';
    const failed = await ask();
    expect(await status(failed.id, 5000)).toMatchObject({ status: 'denied', answer: { approver: 'webhook', reason: 'the approval webhook answered HTTP 500' } });
    mode = 'later';
    const silent = await ask();
    expect(await status(silent.id, 10_000)).toMatchObject({ status: 'denied', answer: { approver: 'timeout' } });
  });

  it('a webhook URL that is http off loopback is refused at start: its reply approves actions', async () => {
    const refused = await startAgentd(`approvals:\n  mode: webhook\n  webhook: { url: "http://hooks.example.com/approve", secret_file: secret.txt }\n`, { 'secret.txt': `${SECRET}\n` }).then(
      (d) => d.remove().then(() => 'started'),
      (err: unknown) => String(err),
    );
    expect(refused).toMatch(/approvals\.webhook\.url must be https \(http only on loopback\)/);
  });

  it('a callback to an agentd whose approvals are not webhook-answered is 404, and needs no token to be refused', async () => {
    const plain = await startAgentd('');
    try {
      const res = await fetch(`${plain.url}/v1/approvals/ap-1/callback`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"approved":true}' });
      expect(res.status).toBe(404);
    } finally {
      await plain.remove();
    }
  });
});
