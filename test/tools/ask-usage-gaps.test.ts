/**
 * Found by a review (fixed) of 037d418 (http-fetch.ts askingForUsage). The rewrite asks for usage only when the path ends in
 * /chat/completions and JSON.parse's `stream` is exactly `true`. A streamed answer that is not asked for usage counts
 * 0 against token_budget. Requests an agent can send on purpose that a common OpenAI-compatible server (vLLM, LiteLLM,
 * SGLang: FastAPI/pydantic behind uvicorn) streams without usage:
 *
 *  1. the legacy Completions API, /v1/completions: `stream: true` reports usage only with stream_options.include_usage
 *     too (OpenAI and vLLM alike); the path test leaves it out;
 *  2. `"stream": "true"` (or 1): pydantic's lax mode reads it as true; `r.stream !== true` sends it as it is;
 *  3. a body Python's json accepts and JSON.parse does not (`NaN`): sent as it is.
 *
 * And the rewrite is not "within maxRequestBytes" (doc comment above askingForUsage): JSON.stringify writes `1e20` as
 * 21 digits, so a 2 KiB body goes out at ~5x, and a 64-bit `seed` loses its low digits.
 *
 * The mock parses as such a server does. Budget 1,000; each answer uses 8,000 tokens: the second call must be refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { thrice, underBudget } from './budget-agent.ts';
import { localServer, type LocalServer } from './helpers.ts';

let server: LocalServer;
let url: string;
const received: string[] = [];

beforeAll(async () => {
  server = await localServer((req, raw, res) => {
    received.push(raw);
    // As Python's json.loads (NaN allowed) and pydantic's lax bool, on uvicorn's decoded path.
    const asked = JSON.parse(raw.replace(/\bNaN\b/g, 'null') || '{}') as { stream?: unknown; stream_options?: { include_usage?: boolean } };
    const streaming = asked.stream === true || asked.stream === 'true' || asked.stream === 1;
    const path = decodeURIComponent(req.url ?? '');
    if (path !== '/v1/chat/completions' && path !== '/v1/completions') return void res.writeHead(404).end();
    const usage = { prompt_tokens: 5000, completion_tokens: 3000, total_tokens: 8000 };
    if (!streaming) return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ choices: [], usage }));
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const choice = path === '/v1/completions' ? { text: 'the answer', index: 0 } : { delta: { content: 'the answer' }, index: 0 };
    res.write(`data: ${JSON.stringify({ choices: [choice], usage: null })}\n\n`);
    if (asked.stream_options?.include_usage === true) res.write(`data: ${JSON.stringify({ choices: [], usage })}\n\n`);
    res.end('data: [DONE]\n\n');
  });
  url = server.url;
});

afterAll(() => server.close());

async function run(source: string, maxRequestBytes?: number): Promise<string> {
  return (await underBudget(url, source, maxRequestBytes === undefined ? {} : { maxRequestBytes })).text;
}

const viaFetch = (path: string, body: string) =>
  thrice(`const res = await fetch('${url}${path}', { method: 'POST', headers: { 'content-type': 'application/json' }, body: ${JSON.stringify(body)} });
      await res.text();`);

describe('token_budget on a model endpoint: streamed requests still not asked for their usage', () => {
  it('the legacy Completions API (/v1/completions, stream: true) is asked for its usage', async () => {
    expect(await run(viaFetch('/v1/completions', JSON.stringify({ model: 'm', stream: true, prompt: 'hi' })))).toContain('refused 1');
  }, 20_000);

  it('"stream": "true" (a string the server reads as true) is asked for its usage', async () => {
    expect(await run(viaFetch('/v1/chat/completions', JSON.stringify({ model: 'm', stream: 'true', messages: [] })))).toContain('refused 1');
  }, 20_000);

  it('a body with a NaN the server accepts is asked for its usage', async () => {
    expect(await run(viaFetch('/v1/chat/completions', '{"model":"m","stream":true,"messages":[],"x":NaN}'))).toContain('refused 1');
  }, 20_000);

  it('the rewritten body stays within maxRequestBytes and keeps its numbers', async () => {
    received.length = 0;
    const body = `{"model":"m","stream":true,"seed":12345678901234567891,"messages":[],"x":[${Array(300).fill('1e20').join(',')}]}`;
    expect(body.length).toBeLessThan(2048);
    await run(viaFetch('/v1/chat/completions', body), 2048);
    expect(received.length).toBeGreaterThan(0);
    expect(Math.max(...received.map((r) => Buffer.byteLength(r)))).toBeLessThanOrEqual(2048);
    expect(received[0]).toContain('12345678901234567891');
  }, 20_000);
});
