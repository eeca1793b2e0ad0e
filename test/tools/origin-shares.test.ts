/**
 * Before the fix (found by an attacker pass): http.fetch keeps at most 128 connections to one origin for
 * ALL agents (address-guard.ts CONNECTIONS_PER_ORIGIN), with no share per
 * agent or tree. A streamed body the agent does not read keeps its
 * connection until the tool's deadline, and a process may hold 64 fds (a
 * tree 256 pipes). So one agent with three processes holding 128 unread
 * streams in all takes every connection to a shared origin (a model
 * endpoint, say), and another agent's request to that origin waits until
 * its own timeout: ETIMEDOUT, again and again as the attacker re-opens.
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
import { until } from '../until.ts';

let server: Server;
let url: string;
let streaming = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/stream') {
      streaming++;
      res.on('close', () => streaming--);
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      // More than the inline bound, so it streams; then the server keeps sending as it is read.
      res.write(Buffer.alloc(200_000, 1));
    } else {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('hello');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('connections to one origin, shared by every agent', () => {
  it("one agent's unread streams do not starve another agent's request to the same origin", async () => {
    const registry = new ToolRegistry();
    registry.register(httpFetchTool({ allowAddresses: ['127.0.0.0/8'], timeoutMs: 10_000 }));
    const kernel = new Kernel({ policy: parsePolicy('version: 1\nrules:\n  - id: allow-all\n    effect: allow\n', 'allow-all.yaml'), tools: registry, stdout: () => {}, stderr: () => {} });
    const hog = (n: number) => `
      const held = [];
      for (let i = 0; i < ${n}; i++) { try { held.push(sys.exec('http.fetch', { url: '${url}/stream', stream: true }).output); } catch (e) { break; } }
      console.log('held', held.length, held.filter((o) => o.bodyFd !== undefined).length);
      await new Promise((r) => setTimeout(r, 11_000));`;
    const hogs = [60, 60, 8].map((n) => {
      const out = capture();
      return { proc: kernel.spawn(programFromSource('hog.js', hog(n)), { agentId: 'attacker', manifest: { capabilities: ['tool:*'] }, stdout: out.sink, stderr: out.sink }), out };
    });
    await until(() => hogs.every((h) => h.out.text.startsWith('held')), () => `the hogs to hold their streams (${hogs.map((h) => h.out.text).join('|')}, ${streaming} streaming)`, 15_000);
    const out = capture();
    const victim = kernel.spawn(
      programFromSource('victim.js', `try { console.log(sys.exec('http.fetch', { url: '${url}/hello' }).output.body); } catch (e) { console.log(e.errno); }`),
      { agentId: 'victim', manifest: { capabilities: ['tool:*'] }, stdout: out.sink, stderr: out.sink },
    );
    const started = Date.now();
    await kernel.wait(victim.pid);
    const waited = Date.now() - started;
    for (const h of hogs) kernel.kill(h.proc.pid, 'SIGKILL');
    for (const h of hogs) await kernel.wait(h.proc.pid);
    // A loopback answer takes milliseconds; it waited until the attacker's streams reached their deadline (~8 s here), or timed out.
    expect({ answer: out.text, slow: waited > 2000 }).toEqual({ answer: 'hello\n', slow: false });
  }, 30_000);
});
