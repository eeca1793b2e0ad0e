/**
 * Found by a review (fixed) of ddba06d (http-fetch.ts askingForUsage): the option was appended before the body's
 * last `}`, so a request that already had `stream_options` (null, {"include_usage": false}, a vLLM
 * {"continuous_usage_stats": true}) went out with the key twice, which Rust's serde derive (Hugging Face TGI's
 * ChatRequest, mistral.rs...) refuses: `duplicate field `stream_options``. Such a request is now refused with EINVAL
 * naming include_usage (the agent sets it), and is not sent; one without stream_options gets it once, the rest of its
 * text as written. The mock refuses duplicate keys as serde does.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localServer, type LocalServer } from './helpers.ts';
import { Kernel } from '../../kernel/kernel.ts';
import { parsePolicy } from '../../kernel/policy/load.ts';
import { programFromSource } from '../../kernel/program.ts';
import { httpFetchTool } from '../../kernel/tools/http-fetch.ts';
import { ToolRegistry } from '../../kernel/tools/registry.ts';
import { capture } from '../helpers.ts';

let server: LocalServer;
let url: string;
const received: string[] = [];

beforeAll(async () => {
  server = await localServer((req, raw, res) => {
    received.push(raw);
    // Top-level keys as serde's derived visitor sees them: a second one is an error.
    const keys = [...raw.matchAll(/[{,]\s*"((?:[^"\\]|\\.)*)"\s*:/g)].map((m) => m[1]);
    if (keys.filter((k) => k === 'stream_options').length > 1) return void res.writeHead(422, { 'content-type': 'text/plain' }).end('duplicate field `stream_options`');
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(`data: ${JSON.stringify({ choices: [{ delta: { content: 'hi' }, index: 0 }] })}\n\n`);
    res.write(`data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 } })}\n\n`);
    res.end('data: [DONE]\n\n');
  });
  url = server.url;
});

afterAll(() => server.close());

async function run(body: string): Promise<string> {
  const registry = new ToolRegistry();
  registry.register(httpFetchTool({ allowAddresses: ['127.0.0.0/8'], modelEndpoints: [`${url}/v1/`], timeoutMs: 10_000 }));
  const policy = parsePolicy('version: 1\nrules:\n  - { id: stdio, effect: allow, syscalls: [SYS_WRITE, SYS_OPEN, SYS_READ, SYS_CLOSE, SYS_EXIT] }\n  - { id: model, effect: allow, syscalls: [SYS_EXEC], tools: [http.fetch] }\n', 'p.yaml');
  const kernel = new Kernel({ policy, tools: registry, stdout: () => {}, stderr: () => {} });
  const out = capture();
  const source = `
    try {
      const res = await fetch('${url}/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: ${JSON.stringify(body)} });
      console.log('status', res.status, await res.text());
    } catch (e) { console.log('refused', e.message, e.cause && e.cause.errno); }`;
  const proc = kernel.spawn(programFromSource('agent.js', source), { manifest: { capabilities: ['tool:*'] }, stdout: out.sink, stderr: out.sink });
  await kernel.wait(proc.pid);
  return out.text;
}

describe('askingForUsage: a request that already has stream_options never goes out with it twice', () => {
  for (const options of ['null', '{"include_usage":false}', '{"continuous_usage_stats":true}']) {
    it(`"stream_options": ${options} is refused, naming include_usage, and not sent`, async () => {
      received.length = 0;
      const out = await run(`{"model":"m","stream":true,"stream_options":${options},"messages":[]}`);
      expect(out).toMatch(/^refused fetch failed EINVAL/);
      expect(received.length).toBe(0);
    }, 20_000);
  }

  it('"stream_options": {"include_usage":true} goes out as written', async () => {
    received.length = 0;
    const body = '{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[]}';
    expect(await run(body)).toContain('status 200');
    expect(received).toEqual([body]);
  }, 20_000);

  it('a request without it gets it once, the rest as written', async () => {
    received.length = 0;
    const body = '{"model":"m","stream":true,"seed":12345678901234567891,"messages":[]}';
    expect(await run(body)).toContain('status 200');
    expect(received).toEqual(['{"model":"m","stream":true,"seed":12345678901234567891,"messages":[],"stream_options":{"include_usage":true}}']);
  }, 20_000);
});
