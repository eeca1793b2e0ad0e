/**
 * A question asked through a webhook outlives an agentd killed with
 * SIGKILL: the next start asks the webhook again, with a callback on the
 * new agentd's own address, and the signed callback answers it.
 */
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgentd, until, type Agentd } from './helpers.ts';

const SECRET = 'a-shared-secret-of-some-length';
const POLICY = 'version: 1\ndefaults: { approval_timeout_ms: 60000 }\nrules:\n  - { id: mail-needs-a-human, effect: require_approval, syscalls: [email.send] }\n';

describe('a webhook question across an agentd restart', { timeout: 60_000 }, () => {
  const asked: { id: string; callback: string; requested_at: number }[] = [];
  const webhook = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (c: string) => (body += c));
    req.on('end', () => {
      asked.push(JSON.parse(body) as (typeof asked)[number]);
      res.writeHead(202).end();
    });
  });
  let first: Agentd;
  let second: Agentd | undefined;

  beforeAll(async () => {
    await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    await second?.remove();
    await first?.remove();
    webhook.close();
  });

  it('is asked again with a callback on the new agentd, which takes the signed answer', async () => {
    const url = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/hook`;
    const config = `policy: policy.yaml\napprovals:\n  mode: webhook\n  webhook: { url: "${url}", secret_file: secret.txt, timeout_ms: 1000 }\n`;
    const files = { 'policy.yaml': POLICY, 'secret.txt': `${SECRET}\n` };
    first = await startAgentd(config, files);
    const id = ((await first.api('POST', '/v1/evaluate', { agent: 'mailer', action: 'email.send', arguments: { to: 'a@example.com' } })).body as { approval_id: string }).approval_id;
    await until(() => asked.length === 1, 'the webhook to be asked');
    await first.stop('SIGKILL');

    second = await startAgentd(config, files, { stateDir: first.stateDir });
    await until(() => asked.length === 2, 'the webhook to be asked again');
    const again = asked[1]!;
    expect(again).toMatchObject({ id, callback: `${second.url}/v1/approvals/${encodeURIComponent(id)}/callback`, arguments: { to: 'a@example.com' } });
    const timestamp = String(Date.now());
    const signature = `sha256=${createHmac('sha256', SECRET).update(`callback.${timestamp}.${id}.${again.requested_at}.approve.ok after restart`).digest('hex')}`;
    const answered = await fetch(again.callback, { method: 'POST', headers: { 'content-type': 'application/json', 'x-agent-kernel-timestamp': timestamp, 'x-agent-kernel-signature': signature }, body: JSON.stringify({ approved: true, reason: 'ok after restart' }) });
    expect(answered.status).toBe(200);
    expect((await second.api('GET', `/v1/approvals/${id}`)).body).toMatchObject({ status: 'approved', answer: { approver: 'webhook', reason: 'ok after restart' } });
  });
});
