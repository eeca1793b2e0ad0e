/**
 * Found by a review (fixed) of 591a990: tokensInBody's fallback for a body that is neither JSON nor events ("JSON cut short") scans, for
 * every `"usage"` in the text, forward to the next `{` (indexOf: to the end of the body when there is none) and then up
 * to 4 KiB char by char (objectAt; from index -1 when indexOf found nothing). A body of `"usage"` repeated is
 * quadratic: ~1 MB (http.fetch's default output limit) holds the kernel's event loop for seconds, every agent stalled.
 *
 * The agent chooses such a body wherever a model endpoint's prefix serves bytes it wrote: a file it uploaded read back
 * (OpenAI's and Anthropic's /v1/files/{id}/content sit under the /v1/ prefix a configuration declares), an echo, a
 * proxy. The mock serves that file. A 1 MB body must not stop the loop for more than a fraction of a second.
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
const FILE = '"usage"'.repeat(Math.floor(1_000_000 / 7));

beforeAll(async () => {
  server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    res.end(FILE);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe("a metered body full of \"usage\"", () => {
  it("does not hold the kernel's event loop for seconds", async () => {
    const registry = new ToolRegistry();
    registry.register(httpFetchTool({ allowAddresses: ['127.0.0.0/8'], modelEndpoints: [`${url}/v1/`], timeoutMs: 20_000 }));
    const policy = parsePolicy('version: 1\nrules:\n  - { id: stdio, effect: allow, syscalls: [SYS_WRITE, SYS_OPEN, SYS_READ, SYS_CLOSE, SYS_EXIT] }\n  - { id: fetch, effect: allow, syscalls: [SYS_EXEC], tools: [http.fetch] }\n', 'p.yaml');
    const kernel = new Kernel({ policy, tools: registry, stdout: () => {}, stderr: () => {} });
    const out = capture();
    let worst = 0;
    let last = performance.now();
    const tick = setInterval(() => {
      const now = performance.now();
      worst = Math.max(worst, now - last);
      last = now;
    }, 5);
    try {
      const proc = kernel.spawn(
        programFromSource('agent.js', `try { const r = sys.exec('http.fetch', { url: '${url}/v1/files/file-1/content' }); console.log('got', r.output.status); } catch (e) { console.log('failed', e.errno, e.message); }`),
        { manifest: { capabilities: ['tool:*'] }, stdout: out.sink, stderr: out.sink },
      );
      expect((await kernel.wait(proc.pid)).status).toBe(0);
    } finally {
      clearInterval(tick);
    }
    // Answered, or refused as past the tool's output limit: either way the body was scanned first.
    expect(out.text).toMatch(/got 200|failed EFBIG/);
    expect(worst).toBeLessThan(1000);
  }, 30_000);
});
