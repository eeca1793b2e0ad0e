/**
 * Before the fix (found by an attacker pass): http.fetch counts a model endpoint's streamed `usage` only
 * when the body reaches its end (pump's `done` branch). An agent that reads
 * the stream and closes the body's fd before the end (reader.cancel(), or
 * simply exiting) has none of the tokens the peer already reported counted:
 * Anthropic's message_start carries input_tokens at the very start. So
 * token_budget is bypassed: here 5,000 input tokens reported, 0 counted, and
 * a budget of 1,000 never bites.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { thrice, underBudget } from './budget-agent.ts';
import { localServer, type LocalServer } from './helpers.ts';

let server: LocalServer;
let url: string;

beforeAll(async () => {
  server = await localServer((req, _body, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":5000,"output_tokens":1}}}\n\n');
    res.write('event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"type":"text_delta","text":"the answer"}}\n\n');
    // The rest of the generation (and the final usage) comes later: the agent has what it wanted by then.
    const t = setTimeout(() => {
      res.write('event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":3000}}\n\n');
      res.end();
    }, 1500);
    res.on('close', () => clearTimeout(t));
  });
  url = server.url;
});

afterAll(() => server.close());

describe('token_budget and streamed model answers', () => {
  it('tokens a stream already reported count even when the agent closes the body before its end', async () => {
    const { text, tokens } = await underBudget(
      url,
      thrice(`const res = await fetch('${url}/v1/messages', { method: 'POST', body: '{}' });
      const reader = res.body.getReader();
      let text = '';
      while (!text.includes('the answer')) text += new TextDecoder().decode((await reader.read()).value);
      await reader.cancel();`),
    );
    // Three answers of 5,000 reported input tokens each: past a budget of 1,000 after the first.
    expect(tokens).toBeGreaterThanOrEqual(5000);
    expect(text).toContain('refused 1');
  }, 20_000);
});
