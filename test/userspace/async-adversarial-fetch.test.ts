/**
 * Adversarial fetch: real agents calling fetch() (the web layer over the
 * http.fetch tool with streamed bodies) against a loopback server that
 * misbehaves: a body that never ends, a body over the output limit, a
 * firehose the agent never reads, many requests at once. The process may
 * fail; the kernel must stay bounded and must not keep requests going for a
 * process that is gone or an fd that is closed.
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

/** Requests the server has not finished or seen closed, by path. */
const open = new Map<string, number>();
let firehoseBytes = 0;
let server: Server;
let url: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = req.url ?? '';
    open.set(path, (open.get(path) ?? 0) + 1);
    res.on('close', () => open.set(path, (open.get(path) ?? 1) - 1));
    if (path === '/silent') {
      // Headers and a first chunk, then nothing: the connection stays open.
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first');
    } else if (path === '/big') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('x'.repeat(2_000_000));
    } else if (path === '/firehose') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(64 * 1024, 1);
      const pump = (): void => {
        while (!res.destroyed && firehoseBytes < 256 * 2 ** 20) {
          firehoseBytes += chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
      };
      pump();
    } else {
      res.end('ok');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** kernelWith makes a kernel whose http.fetch reaches loopback, with the tool's limits. */
function kernelWith(limits: { timeoutMs?: number; maxOutputBytes?: number } = {}): Kernel {
  const registry = new ToolRegistry();
  registry.register(httpFetchTool({ allowAddresses: ['127.0.0.0/8'], ...limits }));
  return new Kernel({ policy: parsePolicy('version: 1\nrules:\n  - id: allow-all\n    effect: allow\n', 'allow-all.yaml'), tools: registry, stdout: () => {}, stderr: () => {} });
}

function start(kernel: Kernel, source: string) {
  const out = capture();
  const proc = kernel.spawn(programFromSource('fetcher.js', source), { manifest: { capabilities: ['tool:*'] }, stdout: out.sink, stderr: out.sink });
  return { proc, out: () => out.text };
}

describe('fetch with a hostile server or a hostile reader', () => {
  it('a body over the output limit is an error for the reader (TypeError terminated, cause EFBIG), not a silent truncation', async () => {
    const kernel = kernelWith({ maxOutputBytes: 100_000 });
    const agent = start(kernel, `
      const res = await fetch('${url}/big');
      try { const text = await res.text(); console.log('read', text.length); }
      catch (e) { console.log(e.name, e.message, e.cause && e.cause.errno); }`);
    const exit = await kernel.wait(agent.proc.pid);
    expect(exit.status).toBe(0);
    expect(agent.out()).toBe('TypeError terminated EFBIG\n');
  });

  it('a firehose the agent never reads is held back: the kernel buffers a bounded amount', async () => {
    const kernel = kernelWith({ maxOutputBytes: 512 * 2 ** 20, timeoutMs: 10_000 });
    firehoseBytes = 0;
    const agent = start(kernel, `const res = await fetch('${url}/firehose'); console.log('headers', res.status); await new Promise((r) => setTimeout(r, 1500));`);
    await until(() => agent.out() === 'headers 200\n', () => `the agent to have its headers (printed ${JSON.stringify(agent.out())})`);
    expect((await kernel.wait(agent.proc.pid)).status).toBe(0);
    // All the agent's life (1.5 s after the headers) the server could send: the pipe holds 64 KiB; the rest is socket buffers and undici's queue, not the whole body.
    expect(firehoseBytes).toBeLessThan(32 * 2 ** 20);
    await until(() => (open.get('/firehose') ?? 0) === 0, 'the firehose request to close');
  });

  it('many concurrent fetches: each body is an fd, EMFILE past the open-file limit; the kernel stays up', async () => {
    const kernel = kernelWith({ timeoutMs: 2000 });
    const agent = start(kernel, `
      const settled = await Promise.allSettled(Array.from({ length: 100 }, () => fetch('${url}/ok').then((r) => r.text())));
      const count = {};
      for (const s of settled) { const k = s.status === 'fulfilled' ? s.value : (s.reason.cause && s.reason.cause.errno) || s.reason.message; count[k] = (count[k] || 0) + 1; }
      console.log(JSON.stringify(count));`);
    const exit = await kernel.wait(agent.proc.pid);
    expect(exit.status).toBe(0);
    const count = JSON.parse(agent.out()) as Record<string, number>;
    expect(Object.keys(count).every((k) => k === 'ok' || k === 'EMFILE')).toBe(true);
    expect(count.ok).toBeGreaterThan(0);
    expect(kernel.liveIsolates()).toBe(0);
  });

  // Was a defect, found by the attacker pass and fixed (kernel/tools/http-fetch.ts pump, kernel/fd-table.ts openStream):
  // once the tool has answered with bodyFd, the request is stopped only when
  // a write into the pipe fails (EPIPE) or at the tool's deadline. A server
  // that sends nothing more keeps the request (socket, undici state, the
  // pump) alive for the whole timeout after the process was killed: with the
  // default 10 s, an agent that fetches and exits in a loop piles up open
  // connections in the kernel (the module doc says "closing the fd (or
  // exiting) stops the request"). Fix: have the StreamWriter report the
  // reader end closing (Pipe.close('r') dropping readers to 0, e.g. an
  // AbortSignal on StreamWriter) and cancel the reader in pump() on it.
  it('SIGKILL during a body that never ends stops the request at once, not at the tool timeout', async () => {
    // A tool timeout far past the wait's hang guard: a request still open when that fails was not stopped by the kill.
    const kernel = kernelWith({ timeoutMs: 120_000 });
    const before = open.get('/silent') ?? 0;
    const agent = start(kernel, `const res = await fetch('${url}/silent'); console.log('headers'); await res.text();`);
    await until(() => agent.out() === 'headers\n', () => `the agent to have its headers (printed ${JSON.stringify(agent.out())})`);
    expect(open.get('/silent')).toBe(before + 1);
    kernel.kill(agent.proc.pid, 'SIGKILL');
    expect((await kernel.wait(agent.proc.pid)).status).toBe(132);
    await until(() => (open.get('/silent') ?? 0) === before, 'the request to close after the kill');
  });

  // The same defect, through the agent closing the body's fd (reader.cancel()).
  it("cancelling the body's reader mid-stream stops the request at once", async () => {
    // As above: the request must close long before the tool's timeout.
    const kernel = kernelWith({ timeoutMs: 120_000 });
    const before = open.get('/silent') ?? 0;
    const agent = start(kernel, `
      const res = await fetch('${url}/silent');
      const reader = res.body.getReader();
      console.log(new TextDecoder().decode((await reader.read()).value));
      await reader.cancel();
      console.log('cancelled');
      await new Promise(() => {});`);
    await until(() => agent.out() === 'first\ncancelled\n', () => `the agent to cancel its reader (printed ${JSON.stringify(agent.out())})`);
    try {
      await until(() => (open.get('/silent') ?? 0) === before, 'the request to close after the cancel');
    } finally {
      kernel.kill(agent.proc.pid, 'SIGKILL');
      await kernel.wait(agent.proc.pid);
    }
  });
});
