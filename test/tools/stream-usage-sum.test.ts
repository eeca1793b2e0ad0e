/**
 * Found by a review (fixed) of ad7ee7c (streamed usage in http.fetch). UsageScanner takes the LARGEST usage report of an event stream
 * ("not their sum"). Anthropic's stream reports input tokens in message_start ({input_tokens: 5000, output_tokens: 1})
 * and the cumulative OUTPUT tokens only in message_delta ({output_tokens: 3000}): the answer used 8,000 tokens, the
 * scanner counts max(5001, 3000) = 5001. Output tokens go uncounted whenever a reply is shorter than its prompt.
 * And the same stream, when it has all arrived with its headers (returned inline), goes through tokensInBody, which
 * SUMS the lines: a stream reporting cumulative usage on each event (OpenAI-compatible servers with continuous usage)
 * is counted several times over. One body, two counts, depending on its timing.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kernel } from '../../kernel/kernel.ts';
import { parsePolicy } from '../../kernel/policy/load.ts';
import { programFromSource } from '../../kernel/program.ts';
import { httpFetchTool } from '../../kernel/tools/http-fetch.ts';
import { ToolRegistry } from '../../kernel/tools/registry.ts';
import { capture } from '../helpers.ts';

let server: Server;
let url: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    if (req.url === '/v1/anthropic') {
      res.write('event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":5000,"output_tokens":1}}}\n\n');
      const t = setTimeout(() => {
        res.write('event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":3000}}\n\n');
        res.end('event: message_stop\ndata: {"type":"message_stop"}\n\n');
      }, 300);
      res.on('close', () => clearTimeout(t));
    } else {
      // Cumulative usage on every chunk, all sent at once (small: it comes back inline).
      let body = '';
      for (let i = 1; i <= 10; i++) body += `data: {"choices":[{"delta":{"content":"x"}}],"usage":{"prompt_tokens":100,"completion_tokens":${i},"total_tokens":${100 + i}}}\n\n`;
      res.end(`${body}data: [DONE]\n\n`);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

async function tokensFor(path: string): Promise<number> {
  const registry = new ToolRegistry();
  registry.register(httpFetchTool({ allowAddresses: ['127.0.0.0/8'], modelEndpoints: [`${url}/v1/`], timeoutMs: 10_000 }));
  const kernel = new Kernel({ policy: parsePolicy('version: 1\nrules:\n  - id: allow-all\n    effect: allow\n', 'allow-all.yaml'), tools: registry, stdout: () => {}, stderr: () => {} });
  const out = capture();
  const source = `const res = await fetch('${url}${path}', { method: 'POST', body: '{}' }); console.log((await res.text()).length);`;
  const proc = kernel.spawn(programFromSource('reader.js', source), { manifest: { capabilities: ['tool:*'] }, stdout: out.sink, stderr: out.sink });
  expect((await kernel.wait(proc.pid)).status, out.text).toBe(0);
  return kernel.engine.counters.tokensUsed(proc.agentId);
}

describe('streamed usage', () => {
  it("an Anthropic stream's output tokens count besides its input tokens (8,000 reported)", async () => {
    expect(await tokensFor('/v1/anthropic')).toBeGreaterThanOrEqual(8000);
  }, 20_000);

  it('a stream with cumulative usage on each event counts its last report once, inline too (110 used)', async () => {
    expect(await tokensFor('/v1/openai')).toBe(110);
  }, 20_000);
});
