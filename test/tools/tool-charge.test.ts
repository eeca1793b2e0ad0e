/**
 * Kernel work a tool call does after the call was measured (its answer read,
 * decoded and copied) is billed to the caller's tree. Found by an attacker
 * pass: an agent fetching 1 MiB bodies held the kernel's loop at ~83% while
 * 80–150 ms a second were billed to it, under the 500 ms share that would
 * have held it back.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { CHUNK_NS } from '../../kernel/tools/chunk-count.ts';
import { httpFetchTool } from '../../kernel/tools/http-fetch.ts';
import { ToolRegistry } from '../../kernel/tools/registry.ts';

describe('what a tool call costs the kernel after it started', () => {
  it('is billed to the caller: the output copy and, for http.fetch, decoding the answer', async () => {
    const body = 'x'.repeat(1 << 20);
    const server = createServer((_req, res) => res.end(body));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const tools = new ToolRegistry();
      tools.register(httpFetchTool({ allowAddresses: ['127.0.0.0/8'], maxOutputBytes: 4 << 20 }));
      const charges: number[] = [];
      const caller = { pid: 1, agentId: 'a', addTokens: () => {}, charge: (ns: number) => void charges.push(ns) };
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/big`;
      const result = await tools.call('http.fetch', { url }, caller);
      expect((result.output as { body: string }).body).toHaveLength(1 << 20);
      // The chunks the body came in (CHUNK_NS each, chunk-count.ts), decoding the body, then copying the output: three
      // charges, each of real work on a megabyte.
      expect(charges).toHaveLength(3);
      for (const ns of charges) expect(ns).toBeGreaterThan(0);
      expect(charges[0]! % CHUNK_NS).toBe(0);
    } finally {
      server.close();
    }
  });
});
