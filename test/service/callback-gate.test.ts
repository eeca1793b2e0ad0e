/**
 * The approval webhook's callback takes no bearer token, so agentd reads its
 * body before anyone is authenticated. Found by an attacker pass: with no
 * token at all, 4,096 callbacks whose bodies never finished held every
 * connection agentd takes, and the operator got ECONNRESET for 85 s. Now
 * what the headers alone refuse is answered before the body is read, and
 * the body has 2 s to arrive.
 */
import { request } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { startAgentd, type Agentd } from './helpers.ts';

/** unfinished sends a callback whose body (4,000 bytes announced) never finishes; it resolves with the status, or 'closed'. */
function unfinished(agentd: Agentd, headers: Record<string, string> = {}): Promise<{ outcome: number | 'closed'; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const req = request(`${agentd.url}/v1/approvals/ap-1/callback`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': '4000', ...headers } }, (res) => {
      res.resume();
      resolve({ outcome: res.statusCode ?? 0, ms: Date.now() - started });
      req.destroy();
    });
    req.on('error', () => resolve({ outcome: 'closed', ms: Date.now() - started }));
    req.on('close', () => resolve({ outcome: 'closed', ms: Date.now() - started }));
    req.write('{"approved":');
  });
}

const daemons: Agentd[] = [];
afterAll(async () => {
  for (const d of daemons) await d.remove();
});

describe('the webhook callback before its body', () => {
  it('is 404 at once where approvals are not by webhook', async () => {
    const agentd = await startAgentd('');
    daemons.push(agentd);
    // Before the fix: no answer until the body came (it never does here).
    expect(await unfinished(agentd)).toMatchObject({ outcome: 404, ms: expect.any(Number) });
  });

  it('is 401 at once without a fresh timestamp or a signature, and a signed-looking one has 2 s to send its body', async () => {
    const agentd = await startAgentd('approvals:\n  mode: webhook\n  webhook: { url: "http://127.0.0.1:9/approve", secret_file: secret.txt }\n', { 'secret.txt': 'not-a-real-secret-but-long-enough-0123456789\n' });
    daemons.push(agentd);
    expect((await unfinished(agentd)).outcome).toBe(401);
    expect((await unfinished(agentd, { 'x-agent-kernel-timestamp': String(Date.now()) })).outcome).toBe(401);
    const slow = await unfinished(agentd, { 'x-agent-kernel-timestamp': String(Date.now()), 'x-agent-kernel-signature': 'sha256=00' });
    expect(slow.outcome).toBe('closed');
    expect(slow.ms).toBeGreaterThanOrEqual(1500);
    expect(slow.ms).toBeLessThan(10_000);
    expect((await agentd.api('GET', '/healthz')).status).toBe(200);
  }, 30_000);
});
