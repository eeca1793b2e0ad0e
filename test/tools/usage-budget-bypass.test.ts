/**
 * Found by a review (fixed) of 591a990 (usage tallied per field; http.fetch asks a streamed /chat/completions for its usage). token_budget
 * on a declared model endpoint still counts nothing, or far too little, for requests an agent can make on purpose:
 *
 *  1. a body sent as `bodyBase64` (sys.exec('http.fetch', …) directly, or any body that is not valid UTF-8) is never
 *     rewritten: askingForUsage only looks at a string body (kernel/tools/http-fetch.ts, `typeof sentBody === 'string'`);
 *  2. a key spelled with a JSON escape, `"\u0073tream": true`, is `stream` to the server but fails the
 *     `body.includes('"stream"')` shortcut, so the body is sent unchanged;
 *  3. OpenAI's Responses API streamed (`/v1/responses`, the OpenAI Agents SDK's default) reports usage only in the
 *     `response.completed` event, at `response.usage`: usageOf reads `usage` and `message.usage` only;
 *  4. Anthropic's prompt caching: a prompt marked `cache_control` is reported as `cache_creation_input_tokens` (read
 *     back later as `cache_read_input_tokens`), not `input_tokens`; UsageTally's FIELDS leave both out, so a 3,000-token
 *     prompt counts 3.
 *
 * Each mock answers as the real API does. Budget 1,000; each answer uses ~8,000 tokens: the second call must be refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { thrice, underBudget } from './budget-agent.ts';
import { localServer, type LocalServer } from './helpers.ts';

let server: LocalServer;
let url: string;

const sse = (events: unknown[]) => events.map((e) => `event: ${(e as { type: string }).type}\ndata: ${JSON.stringify(e)}\n\n`).join('');

beforeAll(async () => {
  server = await localServer((req, raw, res) => {
    const asked = JSON.parse(raw || '{}') as { stream?: boolean; stream_options?: { include_usage?: boolean } };
    if (req.url === '/v1/chat/completions') {
      const usage = { prompt_tokens: 5000, completion_tokens: 3000, total_tokens: 8000 };
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`data: ${JSON.stringify({ choices: [{ delta: { content: 'the answer' } }], usage: null })}\n\n`);
      if (asked.stream_options?.include_usage === true) res.write(`data: ${JSON.stringify({ choices: [], usage })}\n\n`);
      res.end('data: [DONE]\n\n');
      return;
    }
    if (req.url === '/v1/responses') {
      const usage = { input_tokens: 5000, input_tokens_details: { cached_tokens: 0 }, output_tokens: 3000, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 8000 };
      const base = { id: 'resp_1', object: 'response', model: 'm' };
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(
        sse([
          { type: 'response.created', sequence_number: 0, response: { ...base, status: 'in_progress', output: [], usage: null } },
          { type: 'response.output_text.delta', sequence_number: 1, item_id: 'msg_1', output_index: 0, content_index: 0, delta: 'the answer' },
        ]),
      );
      // The answer takes a while, as a model's does: the body is streamed to the agent (the inline path's
      // brace scan happens to find this usage; the streamed path's line tally does not).
      setTimeout(() => res.end(sse([{ type: 'response.completed', sequence_number: 2, response: { ...base, status: 'completed', output: [{ type: 'message', id: 'msg_1', role: 'assistant', content: [{ type: 'output_text', text: 'the answer' }] }], usage } }])), 50);
      return;
    }
    if (req.url === '/v1/messages') {
      // A cached system prompt of 7,000 tokens: Anthropic reports it apart from input_tokens.
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: 'msg_1', type: 'message', role: 'assistant', content: [{ type: 'text', text: 'the answer' }], stop_reason: 'end_turn', usage: { input_tokens: 3, cache_creation_input_tokens: 7000, cache_read_input_tokens: 0, output_tokens: 10 } }));
      return;
    }
    res.writeHead(404).end();
  });
  url = server.url;
});

afterAll(() => server.close());

async function run(source: string): Promise<string> {
  return (await underBudget(url, source)).text;
}

const viaFetch = (path: string, body: string) =>
  thrice(`const res = await fetch('${url}${path}', { method: 'POST', headers: { 'content-type': 'application/json' }, body: ${JSON.stringify(body)} });
      await res.text();`);

describe('token_budget on model endpoints: requests that still count (almost) nothing', () => {
  it('a streamed chat completion sent as bodyBase64 is asked for its usage too', async () => {
    const b64 = Buffer.from(JSON.stringify({ model: 'm', stream: true, messages: [] })).toString('base64');
    const text = await run(`
      for (let i = 0; i < 3; i++) {
        try {
          sys.exec('http.fetch', { url: '${url}/v1/chat/completions', method: 'POST', headers: { 'content-type': 'application/json' }, bodyBase64: '${b64}' });
          console.log('got answer', i);
        } catch (e) { console.log('refused', i, e.errno); }
      }`);
    expect(text).toContain('refused 1');
  }, 20_000);

  it('a streamed chat completion whose "stream" key is written with a JSON escape is asked for its usage too', async () => {
    const text = await run(viaFetch('/v1/chat/completions', '{"model":"m","\\u0073tream":true,"messages":[]}'));
    expect(text).toContain('refused 1');
  }, 20_000);

  it("a streamed Responses API answer counts the usage of its response.completed event", async () => {
    const text = await run(viaFetch('/v1/responses', JSON.stringify({ model: 'm', stream: true, input: 'hi' })));
    expect(text).toContain('refused 1');
  }, 20_000);

  it("Anthropic's cache_creation_input_tokens count against the budget", async () => {
    const text = await run(viaFetch('/v1/messages', JSON.stringify({ model: 'm', max_tokens: 10, system: [{ type: 'text', text: '…7,000 tokens…', cache_control: { type: 'ephemeral' } }], messages: [{ role: 'user', content: 'hi' }] })));
    expect(text).toContain('refused 1');
  }, 20_000);
});
