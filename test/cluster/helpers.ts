/**
 * Helpers for the cluster tests: agentd nodes as real child processes on
 * loopback ports, sharing one Redis under a key prefix unique to the test
 * file; agentctl run against a node; and a dedicated redis-server on its
 * own port that a test may stop and start again. Nothing here is a mock.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { redisForTests, unlinkMatching } from '../redis.ts';
import { until } from '../until.ts';

export { until };

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
const NODE_FLAGS = ['--no-node-snapshot', '--disable-warning=ExperimentalWarning'];

/** An agent that prints `ready` and then idles for ever. */
export const IDLE = "console.log('ready'); await new Promise(() => {});";

export interface Exit {
  status: number | null;
  signal: NodeJS.Signals | null;
}

export interface Reply {
  status: number;
  body: any;
}

export interface Node {
  readonly id: string;
  readonly url: string;
  readonly stateDir: string;
  readonly child: ChildProcess;
  readonly exited: Promise<Exit>;
  /** api makes an authenticated request to the node. */
  api(method: string, path: string, body?: unknown): Promise<Reply>;
  /** spawn starts `source` on this node (201 expected) and returns its pid; with `ready`, waits until it printed ready. */
  spawn(source?: string, ready?: boolean): Promise<number>;
  stderr(): string;
  stop(signal?: NodeJS.Signals): Promise<Exit>;
  remove(): Promise<void>;
}

export interface NodeOptions {
  readonly redisUrl: string;
  readonly prefix: string;
  readonly id: string;
  /** More YAML for the configuration (policy:, approvals:, limits: …). */
  readonly config?: string;
  /** Files written next to the configuration (policies). */
  readonly files?: Record<string, string>;
  readonly heartbeatMs?: number;
  readonly ttlMs?: number;
}

const START_GUARD_MS = 30_000;

/** startNode starts `agentd --config F --port 0 --state-dir D` as cluster node `id` and resolves once it listens. */
export async function startNode(options: NodeOptions): Promise<Node> {
  const dir = mkdtempSync(join(tmpdir(), `agentd-${options.id}-`));
  for (const [name, text] of Object.entries(options.files ?? {})) writeFileSync(join(dir, name), text);
  const config = [
    'redis:',
    `  url: ${options.redisUrl}`,
    `  key_prefix: "${options.prefix}"`,
    `  node_id: ${options.id}`,
    `  heartbeat_ms: ${options.heartbeatMs ?? 200}`,
    `  node_ttl_ms: ${options.ttlMs ?? 1500}`,
    options.config ?? '',
  ].join('\n');
  const configFile = join(dir, 'agentd.yaml');
  writeFileSync(configFile, config);
  const stateDir = join(dir, 'state');
  const env = { ...process.env };
  for (const name of ['AGENTD_URL', 'AGENTD_TOKEN', 'AGENTD_STATE_DIR', 'FORCE_COLOR']) delete env[name];
  const child = spawn(process.execPath, [...NODE_FLAGS, 'bin/agentd.ts', '--config', configFile, '--port', '0', '--state-dir', stateDir], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], env });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = new Promise<Exit>((resolve) => child.on('exit', (status, signal) => resolve({ status, signal })));
  const url = await new Promise<string>((resolve, reject) => {
    const guard = setTimeout(() => reject(new Error(`agentd ${options.id} did not start: ${stdout} ${stderr}`)), START_GUARD_MS);
    const look = () => {
      const m = /agentd listening on (http:\/\/\S+)/.exec(stdout);
      if (m === null) return;
      clearTimeout(guard);
      resolve(m[1]!);
    };
    child.stdout!.on('data', look);
    void exited.then((e) => reject(new Error(`agentd ${options.id} exited (${e.status ?? e.signal}): ${stderr}`)));
  });
  const token = readFileSync(join(stateDir, 'agentd.token'), 'utf8').trim();
  const api = async (method: string, path: string, body?: unknown): Promise<Reply> => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { status: res.status, body: parsed };
  };
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return exited;
  };
  return {
    id: options.id,
    url,
    stateDir,
    child,
    exited,
    api,
    async spawn(source = IDLE, ready = true) {
      const res = await api('POST', '/v1/processes', { source, filename: 'agent.js' });
      if (res.status !== 201) throw new Error(`spawn on ${options.id} answered ${res.status}: ${JSON.stringify(res.body)}`);
      const pid = (res.body as { pid: number }).pid;
      if (ready) await until(async () => ((await api('GET', `/v1/processes/${pid}/output`)).body?.stdout ?? '').includes('ready'), `pid ${pid} on ${options.id} to be ready`);
      return pid;
    },
    stderr: () => stderr,
    stop,
    async remove() {
      await stop('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}


export interface CtlResult extends Exit {
  stdout: string;
  stderr: string;
}

/** agentctl runs agentctl against `node` (found through its state dir) and waits for it. */
export function agentctl(node: Node, ...args: string[]): Promise<CtlResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, AGENTD_STATE_DIR: node.stateDir };
  for (const name of ['AGENTD_URL', 'AGENTD_TOKEN', 'FORCE_COLOR']) delete env[name];
  const child = spawn(process.execPath, [...NODE_FLAGS, 'bin/agentctl.ts', ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], env });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
}

export interface ClusterRedis {
  readonly url: string;
  /** A key prefix no other run or file uses. */
  readonly prefix: string;
  cleanup(): Promise<void>;
}

/** NodeSet starts agentd nodes on one cluster with the same settings and removes them all (and the cluster's keys) at the end. */
export interface NodeSet {
  /** The nodes started, in order. */
  readonly nodes: readonly Node[];
  start(id: string): Promise<Node>;
  remove(): Promise<void>;
}

/** nodeSet is a NodeSet on `redis` (undefined: the tests skip) with `options` for every node. */
export function nodeSet(redis: ClusterRedis | undefined, options: Omit<NodeOptions, 'redisUrl' | 'prefix' | 'id'> = {}): NodeSet {
  const nodes: Node[] = [];
  return {
    nodes,
    async start(id) {
      const node = await startNode({ ...options, redisUrl: redis!.url, prefix: redis!.prefix, id });
      nodes.push(node);
      return node;
    },
    async remove() {
      await Promise.all(nodes.map((n) => n.remove()));
      await redis?.cleanup();
    },
  };
}

/**
 * deleteCluster removes every key of the cluster `prefix` (the directory's are `{prefix}:…`; decision streams and Redis
 * mounts `prefix:…`) and of the clusters a test derives from it (`{prefix.pause}:…`): the prefix ends in a random tag.
 */
async function deleteCluster(url: string, prefix: string): Promise<void> {
  const admin = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await admin.connect();
    await unlinkMatching(admin, [`{${prefix}*}:*`, `${prefix}*`]);
  } catch {
    // Redis gone (a dedicated server already stopped): nothing to clean.
  } finally {
    admin.disconnect();
  }
}

/**
 * clusterRedis is the shared test Redis (REDIS_URL) with a fresh prefix;
 * undefined when it is down outside CI (the tests skip, loudly), and an
 * error in CI.
 */
export async function clusterRedis(label: string): Promise<ClusterRedis | undefined> {
  const env = await redisForTests(`cluster-${label}`);
  if (env === undefined) return undefined;
  const prefix = env.prefix.replaceAll(':', '.');
  return {
    url: env.url,
    prefix,
    async cleanup() {
      await deleteCluster(env.url, prefix);
      await env.cleanup();
    },
  };
}

/** freePort asks the OS for a loopback port no one listens on. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * RedisServer is a redis-server of the test's own on a free loopback port,
 * with an append-only file fsynced on every write (what zero loss needs),
 * so a test can stop it and start it again with its data.
 */
export class RedisServer {
  readonly port: number;
  private readonly dir: string;

  private constructor(port: number, dir: string) {
    this.port = port;
    this.dir = dir;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** available says whether redis-server can be run here; in CI its absence is an error. */
  static available(label: string): boolean {
    const found = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
    if (found) return true;
    if (process.env.CI) throw new Error('redis-server is not installed: CI must run the Redis fault tests');
    process.stderr.write(`\n${'!'.repeat(78)}\n!! SKIPPING the Redis fault tests of ${label}: redis-server is not installed.\n${'!'.repeat(78)}\n\n`);
    return false;
  }

  static async start(): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), mkdtempSync(join(tmpdir(), 'redis-fault-')));
    await server.up();
    return server;
  }

  /** up starts (or restarts) the server on its port and waits until it answers. */
  async up(): Promise<void> {
    execFileSync('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', this.dir, '--daemonize', 'yes'], { stdio: 'ignore' });
    await until(() => spawnSync('redis-cli', ['-p', String(this.port), 'ping'], { encoding: 'utf8' }).stdout?.trim() === 'PONG', `redis-server on ${this.port}`);
  }

  /** upEmpty starts the server again without its data (a Redis that keeps nothing on disk, restarted). */
  async upEmpty(): Promise<void> {
    for (const name of readdirSync(this.dir)) rmSync(join(this.dir, name), { recursive: true, force: true });
    await this.up();
  }

  /** down stops the server (its append-only file keeps every acknowledged write). */
  down(): void {
    spawnSync('redis-cli', ['-p', String(this.port), 'shutdown', 'nosave'], { stdio: 'ignore' });
  }

  remove(): void {
    this.down();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
