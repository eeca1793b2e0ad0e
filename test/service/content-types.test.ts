/**
 * agentd's routes take JSON bodies, sent as application/json: a body of any
 * other content type is 415 naming application/json, whatever it holds (a
 * JSON text as text/plain was 400 `body: must be object`, as
 * form-urlencoded 415), and is no decision. On a real agentd.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgentd, type Agentd } from './helpers.ts';

const POLICY = `version: 1
name: content-types
rules:
  - id: reads
    effect: allow
    syscalls: [file.read]
    paths: ["/data/**"]
`;

let agentd: Agentd;
beforeAll(async () => {
  agentd = await startAgentd('policy: policy.yaml\n', { 'policy.yaml': POLICY });
});
afterAll(() => agentd.remove());

const QUESTION = JSON.stringify({ agent: 'report-bot', action: 'file.read', resource: '/data/x' });

/** send posts `body` to `path` with `contentType` (none when undefined). */
async function send(path: string, body: string, contentType: string | undefined): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { authorization: `Bearer ${agentd.token}` };
  if (contentType !== undefined) headers['content-type'] = contentType;
  const res = await fetch(`${agentd.url}${path}`, { method: 'POST', headers, body });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) };
}

const recorded = async () => ((await agentd.api('GET', '/v1/decisions?agent=report-bot&limit=100000')).body as unknown[]).length;

describe('content types of JSON routes', () => {
  it.each(['text/plain', 'text/plain; charset=utf-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', 'application/octet-stream', 'text/json'])(
    'a JSON body sent as %s is 415 naming application/json, and no decision',
    async (contentType) => {
      const before = await recorded();
      const res = await send('/v1/evaluate', QUESTION, contentType);
      expect(res.status).toBe(415);
      expect(res.body.error).toContain('content-type: application/json');
      expect(res.body.error).toContain(contentType.split(';')[0]);
      expect(await recorded()).toBe(before);
    },
  );

  it('a content-type that does not parse is 415 too, and agentd answers on', async () => {
    expect(await send('/v1/evaluate', QUESTION, 'not a type')).toMatchObject({ status: 415, body: { error: expect.stringContaining('content-type: application/json') } });
    expect((await send('/v1/evaluate', QUESTION, `x/${'y'.repeat(5000)}`)).body.error.length).toBeLessThan(400);
    expect((await agentd.api('GET', '/healthz')).status).toBe(200);
  });

  it('the same on other JSON routes', async () => {
    const res = await send('/v1/policy/validate', JSON.stringify({ source: POLICY }), 'text/plain');
    expect(res.status).toBe(415);
    expect(res.body.error).toContain('application/json');
  });

  it('application/json, with or without a charset, is decided', async () => {
    expect(await send('/v1/evaluate', QUESTION, 'application/json')).toMatchObject({ status: 200, body: { decision: 'allow' } });
    expect(await send('/v1/evaluate', QUESTION, 'application/json; charset=utf-8')).toMatchObject({ status: 200, body: { decision: 'allow' } });
    expect(await send('/v1/evaluate', QUESTION, 'Application/JSON')).toMatchObject({ status: 200, body: { decision: 'allow' } });
  });
});
