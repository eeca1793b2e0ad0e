/**
 * Before the fix (found by an attacker pass): http.fetch counts a model endpoint's streamed `usage` only
 * when the body reaches its end (pump's `done` branch). An agent that reads
 * the stream and closes the body's fd before the end (reader.cancel(), or
 * simply exiting) has none of the tokens the peer already reported counted:
 * Anthropic's message_start carries input_tokens at the very start. So
 * token_budget is bypassed: here 5,000 input tokens reported, 0 counted, and
 * a budget of 1,000 never bites.
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
    res.write('event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":5000,"output_tokens":1}}}\n\n');
    res.write('event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"type":"text_delta","text":"the answer"}}\n\n');
    // The rest of the generation (and the final usage) comes later: the agent has what it wanted by then.
    const t = setTimeout(() => {
      res.write('event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":3000}}\n\n');
      res.end();
    }, 1500);
    res.on('close', () => clearTimeout(t));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('token_budget and streamed model answers', () => {
  it('tokens a stream already reported count even when the agent closes the body before its end', async () => {
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
          const res = await fetch('${url}/v1/messages', { method: 'POST', body: '{}' });
          const reader = res.body.getReader();
          let text = '';
          while (!text.includes('the answer')) text += new TextDecoder().decode((await reader.read()).value);
          await reader.cancel();
          console.log('got answer', i);
        } catch (e) { console.log('refused', i, e.cause && e.cause.errno); }
      }`;
    const proc = kernel.spawn(programFromSource('reader.js', source), { manifest: { capabilities: ['tool:*'] }, stdout: out.sink, stderr: out.sink });
    expect((await kernel.wait(proc.pid)).status).toBe(0);
    // Three answers of 5,000 reported input tokens each: past a budget of 1,000 after the first.
    expect(kernel.engine.counters.tokensUsed(proc.agentId)).toBeGreaterThanOrEqual(5000);
    expect(out.text).toContain('refused 1');
  }, 20_000);
});
