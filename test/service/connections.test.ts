/**
 * What one client can hold of agentd's HTTP server without a token (an
 * attacker pass, kernel/service/connections.ts): pipelined requests nobody
 * reads close the connection past MAX_PIPELINED instead of piling up as
 * requests and replies in agentd's heap, and connections left idle are
 * closed to make room rather than keeping a new client (the operator) out.
 */
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { boundedServer, MAX_PIPELINED } from '../../kernel/service/connections.ts';
import { type Agentd, startAgentd } from './helpers.ts';
import { until } from '../until.ts';

let agentd: Agentd;
beforeAll(async () => {
  agentd = await startAgentd();
});
afterAll(async () => {
  await agentd.remove();
});

/** opened is a raw TCP connection to `url`'s host and port, connected. */
async function opened(url: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return socket;
}

describe("agentd's connections", () => {
  it(`a client that pipelines thousands of requests and reads no answer is cut off past ${MAX_PIPELINED} unanswered; others are answered meanwhile`, async () => {
    const socket = await opened(agentd.url);
    socket.pause(); // reads nothing
    let closed = false;
    socket.on('close', () => (closed = true)).on('error', () => {});
    const request = 'GET /v1/processes HTTP/1.1\r\nHost: x\r\n\r\n';
    // About 400 KB: ten thousand requests, no token.
    socket.write(request.repeat(10_000));
    await until(() => closed, 'agentd to close the flooding connection');
    const healthy = await agentd.api('GET', '/healthz');
    expect(healthy.status).toBe(200);
  });

  it('an ordinary client pipelining a few requests gets every answer', async () => {
    const socket = await opened(agentd.url);
    let text = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    socket.write(`GET /healthz HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${agentd.token}\r\n\r\n`.repeat(4));
    await until(() => (text.match(/HTTP\/1\.1 200/g) ?? []).length === 4, () => `four answers; got: ${text}`);
    socket.destroy();
  });
});

describe('boundedServer', () => {
  it('connections left idle are closed to make room: with every slot taken, a new client is still answered', async () => {
    const server = boundedServer((_req, res) => void res.end('ok'), 20);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const idle: Socket[] = [];
    try {
      for (let i = 0; i < 20; i++) idle.push((await opened(url)).on('error', () => {}));
      // Past the grace an idle connection has before it may be closed for room.
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const answered = await fetch(`${url}/`).then((r) => r.text());
      expect(answered).toBe('ok');
      expect(idle.filter((s) => s.destroyed || s.readableEnded).length).toBeGreaterThan(0);
    } finally {
      for (const s of idle) s.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
