/**
 * Found by a review (fixed) of ddba06d (http-fetch.ts askingForUsage, `streamed`): the fix counts `"stream": 1` and `"stream": "true"` as
 * streamed because "pydantic takes them", but pydantic's lax bool (vLLM's, LiteLLM's, SGLang's `stream: bool`) also
 * takes any string that lower-cased is '1', 'on', 't', 'y', 'yes', 'true' ("True", "TRUE", "yes", "1"...). Such a
 * request streams without include_usage and counts 0 against token_budget. Budget 1,000; each answer 8,000 tokens:
 * the second call must be refused.
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

/** pydantic v2's lax bool, as for a JSON-decoded value. */
const pydanticTrue = (v: unknown) => v === true || v === 1 || (typeof v === 'string' && ['1', 'on', 't', 'true', 'y', 'yes'].includes(v.toLowerCase()));

beforeAll(async () => {
  server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const asked = JSON.parse(raw || '{}') as { stream?: unknown; stream_options?: { include_usage?: boolean } };
      const usage = { prompt_tokens: 5000, completion_tokens: 3000, total_tokens: 8000 };
      if (!pydanticTrue(asked.stream)) return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ choices: [], usage }));
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`data: ${JSON.stringify({ choices: [{ delta: { content: 'hi' }, index: 0 }], usage: null })}\n\n`);
      if (asked.stream_options?.include_usage === true) res.write(`data: ${JSON.stringify({ choices: [], usage })}\n\n`);
      res.end('data: [DONE]\n\n');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

async function run(body: string): Promise<string> {
  const registry = new ToolRegistry();
  registry.register(httpFetchTool({ allowAddresses: ['127.0.0.0/8'], modelEndpoints: [`${url}/v1/`], timeoutMs: 10_000 }));
  const policy = parsePolicy(
    'version: 1\nrules:\n  - { id: stdio, effect: allow, syscalls: [SYS_WRITE, SYS_OPEN, SYS_READ, SYS_CLOSE, SYS_EXIT] }\n  - { id: model, effect: allow, syscalls: [SYS_EXEC], tools: [http.fetch], limits: { token_budget: 1000 } }\n',
    'budget.yaml',
  );
  const kernel = new Kernel({ policy, tools: registry, stdout: () => {}, stderr: () => {} });
  const out = capture();
  const source = `
  for (let i = 0; i < 3; i++) {
    try {
      const res = await fetch('${url}/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: ${JSON.stringify(body)} });
      await res.text();
      console.log('got answer', i);
    } catch (e) { console.log('refused', i, e.cause && e.cause.errno); }
  }`;
  const proc = kernel.spawn(programFromSource('agent.js', source), { manifest: { capabilities: ['tool:*'] }, stdout: out.sink, stderr: out.sink });
  expect((await kernel.wait(proc.pid)).status).toBe(0);
  return out.text;
}

describe('token_budget: a stream asked for in a spelling pydantic reads as true is asked for its usage', () => {
  for (const spelling of ['True', 'yes', '1', 'on']) {
    it(`"stream": ${JSON.stringify(spelling)}`, async () => {
      expect(await run(JSON.stringify({ model: 'm', stream: spelling, messages: [] }))).toContain('refused 1');
    }, 20_000);
  }
});
