/**
 * Found by a review (fixed) of ad7ee7c ("what the body reported is counted however it ends"). That holds for text/event-stream only:
 * for any other body UsageScanner keeps the text and tokensInBody JSON.parses it at the end. A model endpoint's
 * ordinary JSON answer (OpenAI's chat completion: choices, then usage, then system_fingerprint) that is larger than
 * the inline bound streams through pump; an agent that reads it until the usage has arrived and closes the body
 * before the last bytes has a cut JSON text, which does not parse, and 0 of the 8,000 reported tokens count.
 * The budget of 1,000 never bites.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { thrice, underBudget } from './budget-agent.ts';
import { localServer, type LocalServer } from './helpers.ts';

let server: LocalServer;
let url: string;

beforeAll(async () => {
  server = await localServer((req, _body, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write(`{"id":"c1","choices":[{"message":{"role":"assistant","content":"${'x'.repeat(100_000)} the answer"}}],"usage":{"prompt_tokens":5000,"completion_tokens":3000,"total_tokens":8000}`);
    const t = setTimeout(() => res.end(',"system_fingerprint":"fp_1"}'), 1500);
    res.on('close', () => clearTimeout(t));
  });
  url = server.url;
});

afterAll(() => server.close());

describe('token_budget and a JSON model answer read through a stream', () => {
  it('usage the body already carried counts when the agent closes it before the last bytes', async () => {
    const { text, tokens } = await underBudget(
      url,
      thrice(`const res = await fetch('${url}/v1/chat/completions', { method: 'POST', body: '{}' });
      const reader = res.body.getReader();
      let text = '';
      while (!text.includes('"total_tokens":8000}')) text += new TextDecoder().decode((await reader.read()).value);
      await reader.cancel();`),
    );
    expect(tokens).toBeGreaterThanOrEqual(8000);
    expect(text).toContain('refused 1');
  }, 20_000);
});
