/**
 * Before the fix (found by an attacker pass): a streamed answer from a model endpoint (`model_endpoints`)
 * is scanned for `usage` by UsageScanner.push (model-usage.ts), which for an
 * event stream joins the line so far with the new chunk and splits it on
 * '\n' at every chunk: with no newline, the pending line grows to 64 KiB
 * before it is dropped, so each 1-byte HTTP chunk rescans up to 64 KiB. A
 * peer sending 1 MiB of `text/event-stream` in 1-byte chunks without a
 * newline costs ring 0 seconds of loop time (pump in http-fetch.ts, on the
 * kernel's loop), billed to no one: the tree's kernelNs stays a small part
 * of what the loop spent.
 */
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { Kernel } from '../../kernel/kernel.ts';
import { parsePolicy } from '../../kernel/policy/load.ts';
import { programFromSource } from '../../kernel/program.ts';
import { httpFetchTool } from '../../kernel/tools/http-fetch.ts';
import { ToolRegistry } from '../../kernel/tools/registry.ts';
import { capture } from '../helpers.ts';

describe('usage scanning of a streamed model answer', () => {
  it('a stream in 1-byte chunks without newlines: the loop time is billed to the tree', async () => {
    const N = (1 << 20) - 4096;
    const payload = Buffer.from('1\r\na\r\n'.repeat(N) + '0\r\n\r\n');
    const server = createServer((sock) => {
      sock.once('data', () => {
        sock.write('HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n');
        sock.end(payload);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const registry = new ToolRegistry();
      registry.register(httpFetchTool({ allowAddresses: ['127.0.0.0/8'], modelEndpoints: [`${url}/v1/`], timeoutMs: 25_000 }));
      const kernel = new Kernel({ policy: parsePolicy('version: 1\nrules:\n  - id: allow-all\n    effect: allow\n', 'allow-all.yaml'), tools: registry, stdout: () => {}, stderr: () => {} });
      const out = capture();
      const before = performance.eventLoopUtilization();
      const proc = kernel.spawn(programFromSource('reader.js', `const r = await fetch('${url}/v1/chat/completions', { method: 'POST', body: '{}' }); console.log((await r.arrayBuffer()).byteLength);`), {
        manifest: { capabilities: ['tool:*'] },
        stdout: out.sink,
        stderr: out.sink,
      });
      await kernel.wait(proc.pid);
      const busyMs = performance.eventLoopUtilization(before).active;
      const chargedMs = proc.lineage.kernelNs / 1e6;

      expect(out.text).toBe(`${N}\n`);
      expect(chargedMs).toBeGreaterThan(busyMs / 2);
    } finally {
      server.close();
    }
  }, 30_000);
});
