/**
 * Found by a review (fixed) of ddba06d (http-fetch.ts askingForUsage, `streamed`): the fix counts `"stream": 1` and `"stream": "true"` as
 * streamed because "pydantic takes them", but pydantic's lax bool (vLLM's, LiteLLM's, SGLang's `stream: bool`) also
 * takes any string that lower-cased is '1', 'on', 't', 'y', 'yes', 'true' ("True", "TRUE", "yes", "1"...). Such a
 * request streams without include_usage and counts 0 against token_budget. Budget 1,000; each answer 8,000 tokens:
 * the second call must be refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { thrice, underBudget } from './budget-agent.ts';
import { localServer, type LocalServer } from './helpers.ts';

let server: LocalServer;
let url: string;

/** pydantic v2's lax bool, as for a JSON-decoded value. */
const pydanticTrue = (v: unknown) => v === true || v === 1 || (typeof v === 'string' && ['1', 'on', 't', 'true', 'y', 'yes'].includes(v.toLowerCase()));

beforeAll(async () => {
  server = await localServer((req, raw, res) => {
    const asked = JSON.parse(raw || '{}') as { stream?: unknown; stream_options?: { include_usage?: boolean } };
    const usage = { prompt_tokens: 5000, completion_tokens: 3000, total_tokens: 8000 };
    if (!pydanticTrue(asked.stream)) return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ choices: [], usage }));
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(`data: ${JSON.stringify({ choices: [{ delta: { content: 'hi' }, index: 0 }], usage: null })}\n\n`);
    if (asked.stream_options?.include_usage === true) res.write(`data: ${JSON.stringify({ choices: [], usage })}\n\n`);
    res.end('data: [DONE]\n\n');
  });
  url = server.url;
});

afterAll(() => server.close());

async function run(body: string): Promise<string> {
  return (
    await underBudget(
      url,
      thrice(`const res = await fetch('${url}/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: ${JSON.stringify(body)} });
      await res.text();`),
    )
  ).text;
}

describe('token_budget: a stream asked for in a spelling pydantic reads as true is asked for its usage', () => {
  for (const spelling of ['True', 'yes', '1', 'on']) {
    it(`"stream": ${JSON.stringify(spelling)}`, async () => {
      expect(await run(JSON.stringify({ model: 'm', stream: spelling, messages: [] }))).toContain('refused 1');
    }, 20_000);
  }
});
