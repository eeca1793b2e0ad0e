/**
 * What one agent credential can hold of agentd at once (an attacker pass,
 * kernel/service/agent-load.ts and connections.ts): requests under way,
 * their bodies' bytes, and connections — the operator always gets in.
 * Requests are held the way an attacker holds them: a body sent in part,
 * over real sockets.
 */
import { connect, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AgentLoad, MAX_AGENT_BODY_BYTES, MAX_AGENT_REQUESTS } from '../../kernel/service/agent-load.ts';
import { MCP_BODY_LIMIT } from '../../kernel/service/routes/mcp.ts';
import { type Agentd, startAgentd } from './helpers.ts';
import { until } from '../until.ts';

/** A socket to agentd and what it has been answered. */
interface Held {
  readonly socket: Socket;
  answer(): string;
}

/** hold opens a connection and sends `head` (a request line and headers) and `body`, which may be less than its Content-Length. */
async function hold(url: string, head: string, body = ''): Promise<Held> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let text = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk)).on('error', () => {});
  socket.write(head + body);
  return { socket, answer: () => text };
}

/** partial holds a POST to `path` as `token` that promises `length` bytes of body and sends `sent` of them. */
const partial = (url: string, token: string, path: string, length: number, sent = 1) =>
  hold(url, `POST ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`, '['.repeat(sent));

const statusOf = (text: string) => Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1] ?? 0);

let agentd: Agentd;
let token: string;
const held: Held[] = [];
const letGo = async () => {
  for (const h of held.splice(0)) h.socket.destroy();
  // agentd frees what they held once it sees them closed.
  await new Promise((resolve) => setTimeout(resolve, 100));
};

afterEach(letGo);
beforeAll(async () => {
  agentd = await startAgentd('listen: { max_connections: 48 }\n');
  const created = await agentd.api('POST', '/v1/principals', { agent: 'greedy' });
  token = (created.body as { token: string }).token;
});
afterAll(async () => {
  await letGo();
  await agentd.remove();
});

describe('what one agent credential holds of agentd', () => {
  it(`at most ${MAX_AGENT_REQUESTS} requests under way: the next is 429 with retry-after, the operator is still answered, and the credential is served again once they end`, async () => {
    for (let i = 0; i < MAX_AGENT_REQUESTS; i++) held.push(await partial(agentd.url, token, '/v1/evaluate', 1000));
    // Once agentd has taken them all in, the next is refused.
    let next = await agentd.api('GET', '/v1/whoami', undefined, { token });
    await until(async () => (next = await agentd.api('GET', '/v1/whoami', undefined, { token })).status === 429, () => `a 429; got ${next.status}`);
    expect(next.body.error).toMatch(/32 requests under way/);
    expect((await agentd.api('GET', '/v1/processes')).status).toBe(200);
    const metrics = (await agentd.api('GET', '/metrics')).text;
    expect(Number(/^agentk_http_busy_total (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThan(0);
    await letGo();
    expect((await agentd.api('GET', '/v1/whoami', undefined, { token })).status).toBe(200);
  });

  it(`bodies of at most ${MAX_AGENT_BODY_BYTES} bytes at once: a request whose bytes cross it is 429, and the share is freed when the others end`, async () => {
    const each = MCP_BODY_LIMIT - 1024;
    const fit = Math.floor(MAX_AGENT_BODY_BYTES / each);
    for (let i = 0; i <= fit; i++) held.push(await partial(agentd.url, token, '/v1/mcp', each + 10, each));
    // One more than fit: whichever's bytes cross the share (connections are read side by side) is refused; the others
    // still wait for the rest of their bodies.
    await until(() => held.some((h) => h.answer() !== ''), 'an answer to the request whose bytes cross the share');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const answered = held.filter((h) => h.answer() !== '');
    expect(answered).toHaveLength(1);
    expect(statusOf(answered[0]!.answer())).toBe(429);
    expect(answered[0]!.answer()).toMatch(/may hold at most 16777216 at once/);
    await letGo();
    const fresh = await partial(agentd.url, token, '/v1/mcp', each + 10, each);
    held.push(fresh);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(fresh.answer()).toBe('');
    await letGo();
  });

  it('bodies nobody reads (a GET, a 415) neither stay counted once answered nor, past the share, end agentd (a review: both did)', async () => {
    // GETs with bodies, answered before their bodies arrive, and the rest sent after: ~64 KiB of each used to stay
    // counted for good, so 240 of them locked the credential out of every body (and the next crossing ended agentd).
    for (let i = 0; i < 240; i++) {
      const h = await hold(agentd.url, `GET /healthz HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Length: 100000000\r\n\r\n`, 'x');
      await until(() => statusOf(h.answer()) !== 0, 'the GET to be answered');
      h.socket.write(Buffer.alloc(256 * 1024));
      h.socket.destroy();
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    const each = MCP_BODY_LIMIT - 1024;
    const fit = Math.floor(MAX_AGENT_BODY_BYTES / each);
    for (let i = 0; i < fit; i++) held.push(await partial(agentd.url, token, '/v1/mcp', each + 10, each));
    // Within 8 KiB of the share: one more body in part.
    const rest = MAX_AGENT_BODY_BYTES - fit * each - 8192;
    held.push(await partial(agentd.url, token, '/v1/mcp', rest + 10, rest));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(held.map((h) => h.answer())).toEqual(held.map(() => ''));
    // A GET whose body crosses the share: nobody reads it, so nobody hears the refusal; agentd stays up.
    const get = await hold(agentd.url, `GET /healthz HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Length: 2000000\r\n\r\n`, 'x'.repeat(200_000));
    held.push(get);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await agentd.api('GET', '/healthz')).status).toBe(200);
  });

  it('past max_connections the operator is served on connections kept for it; an agent credential on one is 503 and closed', async () => {
    // Requests under way from two credentials (each within its share) until agentd's 48 connections are taken (the
    // test's own keep-alive connection may hold one): the first past them is answered 503 and closed.
    const other = ((await agentd.api('POST', '/v1/principals', { agent: 'greedy-too' })).body as { token: string }).token;
    let refused: Held | undefined;
    for (let i = 0; i < 60 && refused === undefined; i++) {
      const h = await partial(agentd.url, i % 2 === 0 ? token : other, '/v1/evaluate', 1000);
      held.push(h);
      await new Promise((resolve) => setTimeout(resolve, 30));
      if (h.answer() !== '') refused = h;
    }
    expect(refused).toBeDefined();
    expect(held.length).toBeGreaterThanOrEqual(48);
    await until(() => refused!.socket.closed, 'agentd to close the agent on the connection kept for the operator');
    expect(statusOf(refused!.answer())).toBe(503);
    expect(refused!.answer()).toMatch(/serves only the operator/);
    const operator = await hold(agentd.url, `GET /v1/processes HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${agentd.token}\r\n\r\n`);
    held.push(operator);
    await until(() => statusOf(operator.answer()) !== 0, 'the operator to be answered');
    expect(statusOf(operator.answer())).toBe(200);
    await letGo();
  });
});

describe('AgentLoad', () => {
  it("refuses a body past every credential's share together with 503, and frees each request's bytes when it ends", async () => {
    const load = new AgentLoad({ requests: 4, bytes: 100, allBytes: 150 });
    const ends: (() => void)[] = [];
    const read = (key: string, bytes: number) =>
      new Promise<string>((resolve) => {
        const body = load.metered(key, Readable.from([Buffer.alloc(bytes)]), (release) => ends.push(release));
        body.on('data', () => {}).on('end', () => resolve('read')).on('error', (err: Error & { statusCode?: number }) => resolve(`${err.statusCode}: ${err.message}`));
      });
    expect(await read('a', 90)).toBe('read');
    expect(await read('b', 50)).toBe('read');
    expect(await read('c', 20)).toMatch(/^503: agentd holds 140 bytes/);
    expect(await read('a', 20)).toMatch(/^429: this credential's requests hold 90 bytes/);
    for (const end of ends.splice(0)) end();
    expect(load.held('a')).toEqual({ requests: 0, bytes: 0 });
    expect(await read('c', 100)).toBe('read');
  });
});
