/**
 * A request whose path holds a malformed percent-escape is answered before
 * any token is checked. An attacker pass found Fastify's own 400 there
 * (FST_ERR_BAD_URL): `{ error, code, message, statusCode }` with the whole
 * URL echoed (8 KB of it, escapes the sender chose), where every error
 * answer of agentd is `{ error, errno? }` and echoes at most 64 characters
 * of what was sent.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Agentd, startAgentd } from '../service/helpers.ts';

let agentd: Agentd;
beforeAll(async () => {
  agentd = await startAgentd();
});
afterAll(async () => {
  await agentd.remove();
});

describe('a malformed URL gets agentd\'s own error answer', () => {
  it('is { error, errno? } and echoes little of the URL', async () => {
    const res = await fetch(`${agentd.url}/v1/approvals/%E0${'%1B%5B2J'.repeat(1000)}`);
    const text = await res.text();
    expect(res.status).toBe(400);
    const body = JSON.parse(text) as Record<string, unknown>;
    expect(body).toEqual({ error: 'the URL is not valid: a malformed percent-escape', errno: 'EINVAL' });
  });

  it('a path parameter longer than 100 characters is 414, not 500 (a review: the handler of framework errors answered it as its own fault)', async () => {
    const res = await fetch(`${agentd.url}/v1/processes/${'1'.repeat(200)}`);
    expect(res.status).toBe(414);
    expect(await res.json()).toEqual({ error: 'a path parameter of the URL is longer than 100 characters', errno: 'ENAMETOOLONG' });
  });
});
