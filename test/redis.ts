/**
 * The Redis the tests use: REDIS_URL (default redis://127.0.0.1:6379), under
 * a key prefix unique to this run and file. redisForTests() pings it once:
 * if it does not answer, with CI set it throws (the test file fails: CI must
 * run the Redis tests); without CI it warns loudly and returns undefined, and
 * the file skips its Redis tests with describe.skipIf(env === undefined).
 * RedisProxy stands between a client and Redis so a test can cut the line
 * and restore it (Redis "stopped and restarted" without touching the server),
 * or stall it (Redis hung: connected, but no answers).
 */
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import type { Redis } from 'ioredis';
import { connectRedis, whenReady, type RedisClient } from '../kernel/redis/connect.ts';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface RedisTestEnv {
  readonly url: string;
  /** A key prefix no other run or test file uses. */
  readonly prefix: string;
  /** client opens a fail-closed client (REDIS_URL unless `url`), ready to use; closed by cleanup(). */
  client(url?: string, commandTimeoutMs?: number): Promise<RedisClient>;
  /** cleanup deletes every key under the prefix and closes the clients. */
  cleanup(): Promise<void>;
}

async function reachable(url: string): Promise<string | undefined> {
  const probe = connectRedis({ url, connectTimeoutMs: 1000 });
  try {
    await whenReady(probe, 1500);
    await probe.ping();
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  } finally {
    probe.disconnect();
  }
}

/** redisForTests returns the test Redis, undefined (tests skipped) when it is down outside CI, and throws when it is down in CI. */
export async function redisForTests(label: string): Promise<RedisTestEnv | undefined> {
  const why = await reachable(REDIS_URL);
  if (why !== undefined) {
    const message = `Redis at ${REDIS_URL} does not answer (${why})`;
    if (process.env.CI) throw new Error(`${message}: CI must run the Redis tests (set REDIS_URL or start redis-server)`);
    process.stderr.write(`\n${'!'.repeat(78)}\n!! SKIPPING the Redis tests of ${label}: ${message}.\n!! Start redis-server or set REDIS_URL; with CI set these tests fail instead.\n${'!'.repeat(78)}\n\n`);
    return undefined;
  }
  const prefix = `akt:${label}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const clients: RedisClient[] = [];
  return {
    url: REDIS_URL,
    prefix,
    async client(url = REDIS_URL, commandTimeoutMs) {
      const client = connectRedis({ url, ...(commandTimeoutMs !== undefined ? { commandTimeoutMs } : {}) });
      clients.push(client);
      await whenReady(client);
      return client;
    },
    async cleanup() {
      const admin = connectRedis({ url: REDIS_URL });
      try {
        await whenReady(admin);
        // Keys under the prefix, and under a cluster's hash tag a test made of it (`{prefix-beat}:…`): the prefix ends in a random tag.
        await unlinkMatching(admin, [`${prefix}:*`, `{${prefix}*}:*`]);
      } finally {
        admin.disconnect();
        for (const c of clients) c.disconnect();
      }
    },
  };
}

/** unlinkMatching deletes every key that matches one of `patterns` (SCAN, a thousand at a time): the tests' and benches' cleanup. */
export async function unlinkMatching(client: Pick<Redis, 'scan' | 'unlink'>, patterns: readonly string[]): Promise<void> {
  for (const pattern of patterns) {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      if (keys.length > 0) await client.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  }
}

/** RedisProxy forwards a loopback port to Redis until cut(); restore() listens again on the same port. */
export class RedisProxy {
  private server: net.Server | undefined;
  private sockets = new Set<net.Socket>();
  private port = 0;
  /** While stalled, what clients send is held back: Redis looks hung, connections stay up. */
  private stalled = false;
  private held: (() => void)[] = [];
  private readonly target: { host: string; port: number };

  constructor(redisUrl = REDIS_URL) {
    const url = new URL(redisUrl);
    this.target = { host: url.hostname, port: Number(url.port || 6379) };
  }

  /** url is the proxy's address, with the credentials and database of the target. */
  url(redisUrl = REDIS_URL): string {
    const url = new URL(redisUrl);
    url.hostname = '127.0.0.1';
    url.port = String(this.port);
    return url.toString();
  }

  async start(): Promise<void> {
    const server = net.createServer((client) => {
      if (this.server !== server) {
        client.destroy();
        return;
      }
      const upstream = net.connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('error', () => s.destroy());
        s.on('close', () => this.sockets.delete(s));
      }
      upstream.pipe(client);
      client.on('data', (chunk: Buffer) => {
        if (this.stalled) this.held.push(() => upstream.write(chunk));
        else upstream.write(chunk);
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    // A proxy a test forgot to cut must not keep the test worker alive.
    server.unref();
    this.server = server;
  }

  /** cut drops every connection and stops listening: Redis looks down. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    // Stop listening first, then drop every connection, so none accepted in between stays open (close() would wait for it).
    const closed = server === undefined ? Promise.resolve() : new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    this.held = [];
    await closed;
  }

  /** stall holds back every request (connections stay open) until resume(). */
  stall(): void {
    this.stalled = true;
  }

  resume(): void {
    this.stalled = false;
    for (const send of this.held.splice(0)) send();
  }

  /** restore listens again on the same port: Redis is back. */
  restore(): Promise<void> {
    return this.start();
  }
}
