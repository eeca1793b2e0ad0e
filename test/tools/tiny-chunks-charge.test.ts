/**
 * Before the fix (found by an attacker pass): a peer answering http.fetch with its body in 1-byte HTTP
 * chunks (`1\r\nx\r\n`, a million of them for 1 MiB, within the output
 * limit) costs ring 0 ~250 ms of its event loop per request: undici's
 * parser calls back per chunk and readCapped (http-fetch.ts) runs one
 * async-iterator turn and one array push per chunk, then concats a million
 * buffers. Only the decoding after the read is charged (a few ms), so
 * kernel_ms_per_second never sees the rest: an agent fetching such a URL
 * in a loop (16 calls at a time) keeps the kernel's loop busy while billed
 * ~2% of it.
 */
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { httpFetchTool } from '../../kernel/tools/http-fetch.ts';
import { ToolRegistry } from '../../kernel/tools/registry.ts';

describe('a body in a million tiny chunks', () => {
  it('the kernel loop time it takes is charged to the caller', async () => {
    const N = (1 << 20) - 4096;
    const payload = Buffer.from('1\r\nx\r\n'.repeat(N) + '0\r\n\r\n');
    const server = createServer((sock) => {
      sock.once('data', () => {
        sock.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n');
        sock.end(payload);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const tools = new ToolRegistry();
      tools.register(httpFetchTool({ allowAddresses: ['127.0.0.0/8'] }));
      let charged = 0;
      const caller = { pid: 1, agentId: 'a', addTokens: () => {}, charge: (ns: number) => void (charged += ns) };
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/x`;
      const before = performance.eventLoopUtilization();
      const result = await tools.call('http.fetch', { url }, caller);
      const busyMs = performance.eventLoopUtilization(before).active;
      expect((result.output as { body: string }).body).toHaveLength(N);
      // The loop was busy ~200+ ms for this one call (server side: one write); at least half of it should be billed.
      expect({ busyOver100: busyMs > 100, chargedMs: Math.round(charged / 1e6) }).toEqual({ busyOver100: true, chargedMs: expect.any(Number) });
      expect(charged / 1e6).toBeGreaterThan(busyMs / 2);
    } finally {
      server.close();
    }
  }, 30_000);
});
