/**
 * Found by a review (fixed) of ad7ee7c (token_budget for model endpoints reached by http.fetch). Counting relies on the body reporting
 * usage, and for OpenAI's chat completions API a streamed answer carries usage only when the REQUEST asks for it
 * (`stream_options: {include_usage: true}`). The agent writes the request: streamed completions without that option
 * report no usage, so nothing is counted and token_budget never bites (the mock below answers as OpenAI does).
 * The kernel neither adds the option to a metered request nor refuses a streamed one without it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { thrice, underBudget } from './budget-agent.ts';
import { localServer, type LocalServer } from './helpers.ts';

let server: LocalServer;
let url: string;

beforeAll(async () => {
  server = await localServer((req, raw, res) => {
    const asked = JSON.parse(raw || '{}') as { stream?: boolean; stream_options?: { include_usage?: boolean } };
    const usage = { prompt_tokens: 5000, completion_tokens: 3000, total_tokens: 8000 };
    if (asked.stream !== true) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ choices: [{ message: { role: 'assistant', content: 'the answer' } }], usage }));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(`data: ${JSON.stringify({ choices: [{ delta: { content: 'the answer' } }], usage: null })}\n\n`);
    setTimeout(() => {
      if (asked.stream_options?.include_usage === true) res.write(`data: ${JSON.stringify({ choices: [], usage })}\n\n`);
      res.end('data: [DONE]\n\n');
    }, 50);
  });
  url = server.url;
});

afterAll(() => server.close());

describe('token_budget and OpenAI-style streamed completions', () => {
  it('a streamed completion the agent asked without include_usage still counts against the budget', async () => {
    const { text } = await underBudget(
      url,
      thrice(`const res = await fetch('${url}/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', stream: true, messages: [] }) });
      await res.text();`),
    );
    expect(text).toContain('refused 1');
  }, 20_000);
});
