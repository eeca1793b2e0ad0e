/**
 * Found by a review (fixed) of ad7ee7c ("what the body reported is counted however it ends"). That holds for text/event-stream only:
 * for any other body UsageScanner keeps the text and tokensInBody JSON.parses it at the end. A model endpoint's
 * ordinary JSON answer (OpenAI's chat completion: choices, then usage, then system_fingerprint) that is larger than
 * the inline bound streams through pump; an agent that reads it until the usage has arrived and closes the body
 * before the last bytes has a cut JSON text, which does not parse, and 0 of the 8,000 reported tokens count.
 * The budget of 1,000 never bites.
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
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write(`{"id":"c1","choices":[{"message":{"role":"assistant","content":"${'x'.repeat(100_000)} the answer"}}],"usage":{"prompt_tokens":5000,"completion_tokens":3000,"total_tokens":8000}`);
    const t = setTimeout(() => res.end(',"system_fingerprint":"fp_1"}'), 1500);
    res.on('close', () => clearTimeout(t));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('token_budget and a JSON model answer read through a stream', () => {
  it('usage the body already carried counts when the agent closes it before the last bytes', async () => {
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
          const res = await fetch('${url}/v1/chat/completions', { method: 'POST', body: '{}' });
          const reader = res.body.getReader();
          let text = '';
          while (!text.includes('"total_tokens":8000}')) text += new TextDecoder().decode((await reader.read()).value);
          await reader.cancel();
          console.log('got answer', i);
        } catch (e) { console.log('refused', i, e.cause && e.cause.errno); }
      }`;
    const proc = kernel.spawn(programFromSource('reader.js', source), { manifest: { capabilities: ['tool:*'] }, stdout: out.sink, stderr: out.sink });
    expect((await kernel.wait(proc.pid)).status).toBe(0);
    expect(kernel.engine.counters.tokensUsed(proc.agentId)).toBeGreaterThanOrEqual(8000);
    expect(out.text).toContain('refused 1');
  }, 20_000);
});
