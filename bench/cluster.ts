/**
 * cluster: two real agentd processes on loopback sharing one Redis
 * (REDIS_URL, default redis://127.0.0.1:6379, under a fresh key prefix).
 *
 * cross_node_signal_ms: an operator's signal sent through node B to a
 * process on node A — B looks the pid up in the directory and relays it over
 * pub/sub, A delivers it and answers, B answers the HTTP request. Timed from
 * the request to B until B's answer (which comes only after A delivered),
 * so it is an upper bound on send→delivered. SIGSTOP and SIGCONT alternate.
 *
 * evaluate_rps_1_node / evaluate_rps_2_nodes: POST /v1/evaluate (recorder
 * on) with autocannon, against node A alone, then against A and B at once
 * (the sum). The load generator runs in this process, on the same cores.
 *
 * cluster_budget_check_us: one check of limits the cluster counts
 * (kernel/cluster/shared-limits.ts: a max_calls and a rate rule, checked
 * and counted by one script) from this process to loopback Redis, one at a
 * time: what a limited call adds to its decision on a cluster node.
 * redis_ping_us: a bare PING on the same connection, its physical floor.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import { RedisHealth } from '../kernel/cluster/health.ts';
import { ClusterKeys } from '../kernel/cluster/redis.ts';
import { ClusterLimits } from '../kernel/cluster/shared-limits.ts';
import { connectRedis, whenReady } from '../kernel/redis/connect.ts';
import { unlinkMatching } from '../test/redis.ts';
import { type Bench, type BenchOptions, type Figure, median, nowNs, quantile } from './stats.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const SIGNALS = 400;
const WARMUP = 40;
const LOAD_SECONDS = 5;
const CONNECTIONS = 32;
const BUDGET_CHECKS = 4000;

/** budgetChecks times ClusterLimits.take against loopback Redis, one call at a time, in µs. */
async function budgetChecks(prefix: string): Promise<{ checks: number[]; pings: number[] }> {
  const client = connectRedis({ url: REDIS_URL });
  const health = new RedisHealth([client], REDIS_URL, 1000);
  try {
    await whenReady(client);
    while (!health.ready) await new Promise((r) => setTimeout(r, 10));
    const limits = new ClusterLimits(client, new ClusterKeys(prefix), health);
    const rules = [
      { id: 'bench-budget', limits: { max_calls: 1e12 } },
      { id: 'bench-rate', limits: { rate: { count: 1e9, per: 'second' as const } } },
    ];
    const pings: number[] = [];
    for (let i = 0; i < 400 + BUDGET_CHECKS; i++) {
      const t0 = nowNs();
      await client.ping();
      if (i >= 400) pings.push(Number(nowNs() - t0) / 1e3);
    }
    const samples: number[] = [];
    for (let i = 0; i < 400 + BUDGET_CHECKS; i++) {
      const t0 = nowNs();
      if ((await limits.take('bench', rules)) !== undefined) throw new Error('the bench budget ran out');
      if (i >= 400) samples.push(Number(nowNs() - t0) / 1e3);
    }
    return { checks: samples, pings };
  } finally {
    health.close();
    client.disconnect();
  }
}

const POLICY = `version: 1
name: bench-cluster
rules:
  - id: bench-allow
    effect: allow
    syscalls: [bench.act]
  - id: own-fds-and-self
    effect: allow
    syscalls: [SYS_READ, SYS_WRITE, SYS_CLOSE, SYS_GETPID, SYS_EXIT]
`;

interface BenchNode {
  readonly url: string;
  readonly token: string;
  readonly child: ChildProcess;
  request(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
}

async function startNode(dir: string, id: string, prefix: string): Promise<BenchNode> {
  const config = join(dir, `${id}.yaml`);
  writeFileSync(config, `policy: policy.yaml\nevaluate: { per_second: 1000000, log_bytes_per_second: 1000000000000 }\nredis:\n  url: ${REDIS_URL}\n  key_prefix: "${prefix}"\n  node_id: ${id}\n`);
  const stateDir = join(dir, id);
  const child = spawn(process.execPath, ['--no-node-snapshot', '--disable-warning=ExperimentalWarning', 'bin/agentd.ts', '--config', config, '--port', '0', '--state-dir', stateDir], {
    cwd: new URL('../', import.meta.url).pathname,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const guard = setTimeout(() => reject(new Error(`agentd ${id} did not start: ${out}`)), 30_000);
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const m = /agentd listening on (http:\/\/\S+)/.exec(out);
      if (m !== null) {
        clearTimeout(guard);
        resolve(m[1]!);
      }
    });
    child.on('exit', (code) => reject(new Error(`agentd ${id} exited ${code}`)));
  });
  const token = readFileSync(join(stateDir, 'agentd.token'), 'utf8').trim();
  return {
    url,
    token,
    child,
    async request(method, path, body) {
      const res = await fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      return { status: res.status, body: await res.json() };
    },
  };
}

/** load runs autocannon against `node`'s evaluate endpoint and resolves with its mean requests per second. */
async function load(node: BenchNode): Promise<{ rps: number; p99: number; errors: number }> {
  const result = await autocannon({
    url: `${node.url}/v1/evaluate`,
    method: 'POST',
    connections: CONNECTIONS,
    duration: LOAD_SECONDS,
    headers: { authorization: `Bearer ${node.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ agent: 'bench', action: 'bench.act', resource: '/agent/bench/mem/x', arguments: { n: 1 } }),
  });
  return { rps: result.requests.average, p99: result.latency.p99, errors: result.errors + result.non2xx };
}

/** clean removes the run's keys: the directory's (`{prefix}:…`) and the nodes' decision streams (`prefix:…`). */
async function clean(prefix: string): Promise<void> {
  const admin = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    await unlinkMatching(admin, [`{${prefix}}:*`, `${prefix}:*`]);
  } finally {
    admin.disconnect();
  }
}

export const clusterBench: Bench = {
  name: 'cluster',
  keys: ['cross_node_signal_ms', 'cross_node_signal_p90_ms', 'local_signal_http_ms', 'evaluate_rps_1_node', 'evaluate_rps_2_nodes', 'cluster_budget_check_us', 'redis_ping_us'],
  async run({ log }: BenchOptions): Promise<Figure[]> {
    const dir = mkdtempSync(join(tmpdir(), 'bench-cluster-'));
    writeFileSync(join(dir, 'policy.yaml'), POLICY);
    const prefix = `bench-${randomUUID().slice(0, 8)}`;
    const nodes: BenchNode[] = [];
    try {
      const { checks, pings } = await budgetChecks(prefix);
      log(`cluster: shared budget check median ${median(checks).toFixed(1)} µs (p10 ${quantile(checks, 0.1).toFixed(1)}, p90 ${quantile(checks, 0.9).toFixed(1)})`);
      nodes.push(...(await Promise.all([startNode(dir, 'node-a', prefix), startNode(dir, 'node-b', prefix)])));
      const [a, b] = nodes as [BenchNode, BenchNode];
      const spawned = await a.request('POST', '/v1/processes', { source: 'await new Promise(() => {});', filename: 'idle.js' });
      if (spawned.status !== 201) throw new Error(`spawn on node A: ${JSON.stringify(spawned.body)}`);
      const pid = (spawned.body as { pid: number }).pid;

      const time = async (through: BenchNode): Promise<number[]> => {
        const samples: number[] = [];
        for (let i = 0; i < WARMUP + SIGNALS; i++) {
          const signal = i % 2 === 0 ? 'SIGSTOP' : 'SIGCONT';
          const t0 = nowNs();
          const res = await through.request('POST', `/v1/processes/${pid}/signal`, { signal });
          const ms = Number(nowNs() - t0) / 1e6;
          if (res.status !== 200) throw new Error(`${signal} answered ${res.status}: ${JSON.stringify(res.body)}`);
          if (i >= WARMUP) samples.push(ms);
        }
        return samples;
      };
      const cross = await time(b);
      const local = await time(a);
      log(`cluster: cross-node signal median ${median(cross).toFixed(2)} ms, local through HTTP ${median(local).toFixed(2)} ms`);

      const one = await load(a);
      log(`cluster: evaluate on 1 node ${one.rps.toFixed(0)} req/s (p99 ${one.p99} ms, ${one.errors} errors)`);
      const [ra, rb] = await Promise.all([load(a), load(b)]);
      const two = ra.rps + rb.rps;
      log(`cluster: evaluate on 2 nodes ${two.toFixed(0)} req/s (${ra.rps.toFixed(0)} + ${rb.rps.toFixed(0)}; p99 ${ra.p99}/${rb.p99} ms, ${ra.errors + rb.errors} errors)`);
      return [
        { key: 'cluster_budget_check_us', value: median(checks), unit: 'µs', target: { op: '<=', bound: 150 }, note: `a max_calls and a rate rule checked and counted in Redis by one script, loopback, one at a time; median of ${BUDGET_CHECKS} after 400 warm-up, p10 ${quantile(checks, 0.1).toFixed(0)}, p90 ${quantile(checks, 0.9).toFixed(0)} µs; a bare PING on the same connection: median ${median(pings).toFixed(0)} µs` },
        { key: 'redis_ping_us', value: median(pings), unit: 'µs', note: `PING on the same connection just before, one at a time: the round trip every shared check pays (budget check ÷ ping ${(median(checks) / median(pings)).toFixed(2)})` },
        { key: 'cross_node_signal_ms', value: median(cross), unit: 'ms', target: { op: '<=', bound: 5 }, note: `HTTP to node B → relayed over Redis → delivered on node A → answered; median of ${SIGNALS} after ${WARMUP} warm-up (includes the HTTP round trip)` },
        { key: 'cross_node_signal_p90_ms', value: quantile(cross, 0.9), unit: 'ms' },
        { key: 'local_signal_http_ms', value: median(local), unit: 'ms', note: 'the same signal sent through node A itself: the HTTP part of cross_node_signal_ms' },
        { key: 'evaluate_rps_1_node', value: one.rps, unit: 'req/s', note: `${CONNECTIONS} connections for ${LOAD_SECONDS} s, recorder on; p99 ${one.p99} ms; autocannon runs on the same 2 cores` },
        { key: 'evaluate_rps_2_nodes', value: two, unit: 'req/s', note: `two autocannon runs at once, one per node; ratio to 1 node ${(two / one.rps).toFixed(2)} on ${availableParallelism()} cores` },
      ];
    } finally {
      for (const node of nodes) node.child.kill('SIGTERM');
      await Promise.all(nodes.map((n) => new Promise((r) => (n.child.exitCode !== null ? r(undefined) : n.child.once('exit', r)))));
      await clean(prefix).catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
