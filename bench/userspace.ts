/**
 * userspace: what the ring-3 runtime costs real programs.
 * - timer_roundtrip_us: `await new Promise(r => setTimeout(r, 0))` in a loop
 *   inside an agent (one SYS_TIMER and one completion each), per round trip.
 * - fetch_overhead_ratio: a 1 KiB loopback fetch from an agent (an http.fetch
 *   decision, the body streamed through an fd) over the same fetch from the
 *   host (Node's fetch, undici), measured side by side in one run, the
 *   server in its own process as any peer an agent fetches from is;
 *   fetch_overhead_ratio_server_in_kernel is the same with the server on the
 *   kernel's own event loop (as measured until 2026-12-06), where its work
 *   queues behind each of the kernel's hops.
 * - fetch_floor_us: the least any fetch made from inside an isolate can cost
 *   with isolated-vm's crossings, in the same rounds: a bare isolate's
 *   callback starts undici's request on the event loop and the answer goes
 *   back in with an async `apply`, as a completion does (no kernel, no
 *   policy, no polyfill). fetch_floor_over_host and fetch_agent_over_floor
 *   split the ratio into what the crossings cost and what the kernel adds.
 * - framework_agent_cold_start_ms: the AI SDK example (build cached) from
 *   spawn to its first model request; framework_cold_start_over_node: that
 *   over the same bundle started by plain Node on the host to its first
 *   request (the kernel's built-in modules mapped to Node's own).
 * - agents_1000x10_async: 1,000 agents, each with 10 concurrent timers and 10
 *   concurrent fetches, all finish and every decision is recorded.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import ivm from 'isolated-vm';
import { Agent } from 'undici';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MemoryDecisionLog } from '../kernel/decision-log.ts';
import { parsePolicy } from '../kernel/policy/load.ts';
import type { ExitRecord } from '../kernel/process.ts';
import { buildProgramFile } from '../kernel/program-build.ts';
import { programFromSource } from '../kernel/program.ts';
import { httpFetchTool } from '../kernel/tools/http-fetch.ts';
import { ToolRegistry } from '../kernel/tools/registry.ts';
import { startModelServer } from '../test/frameworks/model-server.ts';
import { type Bench, type BenchOptions, type Figure, median, nowNs, quietKernel, runReporting, spread } from './stats.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const KIB = 'x'.repeat(1024);
const POLICY = parsePolicy(
  'version: 1\nrules:\n  - { id: all, effect: allow, syscalls: [SYS_READ, SYS_WRITE, SYS_CLOSE, SYS_OPEN, SYS_STAT, SYS_MKDIR, SYS_READDIR, SYS_UNLINK, SYS_GETPID, SYS_EXIT, SYS_TIMER, SYS_CANCEL, SYS_RANDOM] }\n  - { id: loopback-fetch, effect: allow, tools: [http.fetch] }\n',
  'userspace-bench.yaml',
);
const FETCHER = { capabilities: ['tool:http.fetch'] };

function fetchKernel(recorder?: MemoryDecisionLog, modelEndpoints: string[] = []) {
  const tools = new ToolRegistry();
  tools.register(httpFetchTool({ allowAddresses: ['127.0.0.0/8'], modelEndpoints, timeoutMs: 60_000 }));
  return quietKernel({ policy: POLICY, tools, ...(recorder ? { recorder } : {}) });
}

/** A loopback server answering 1 KiB of text to every request. */
interface KibServer {
  readonly url: string;
  close(): void;
}

const KIB_SERVER = `const KIB = 'x'.repeat(1024); const s = require('node:http').createServer((_q, r) => { r.writeHead(200, { 'content-type': 'text/plain' }); r.end(KIB); }); s.listen(0, '127.0.0.1', () => process.stdout.write(String(s.address().port) + '\\n'));`;

/**
 * kibServer starts the 1 KiB server in its own process (as any peer an agent
 * fetches from is: a model, an API), or, `inKernel`, on the kernel's own
 * event loop, where its work queues with the kernel's.
 */
async function kibServer(inKernel = false): Promise<KibServer> {
  if (inKernel) {
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(KIB);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/kib`, close: () => void server.close() };
  }
  const child = spawn(process.execPath, ['-e', KIB_SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolve(out.trim());
    });
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`1 KiB server exited with status ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}/kib`, close: () => void child.kill() };
}

async function timerRoundTrip(rounds: number): Promise<number[]> {
  const kernel = quietKernel({ policy: POLICY });
  const out: number[] = [];
  try {
    for (let r = 0; r < rounds; r++) {
      const { result } = await runReporting<{ ms: number; n: number }>(
        kernel,
        'const n = 5000; for (let i = 0; i < 200; i++) await new Promise((r) => setTimeout(r, 0)); const t0 = Date.now(); for (let i = 0; i < n; i++) await new Promise((r) => setTimeout(r, 0)); console.log(JSON.stringify({ ms: Date.now() - t0, n }));',
      );
      out.push((result.ms * 1000) / result.n);
    }
  } finally {
    await kernel.shutdown();
  }
  return out;
}

/**
 * FetchFloor is the physical limit of fetch_overhead_ratio: an isolate whose
 * callback starts undici's request (the http.fetch tool's client) on the event
 * loop, each answer handed back in by an async `apply`, as a completion is.
 */
class FetchFloor {
  private readonly isolate = new ivm.Isolate({ memoryLimit: 64 });
  private readonly agent = new Agent();
  private step: ivm.Reference | undefined;
  private answered: (() => void) | undefined;
  private readonly origin: string;
  private readonly path: string;

  constructor(url: string) {
    const parsed = new URL(url);
    this.origin = parsed.origin;
    this.path = parsed.pathname;
  }

  private async setUp(): Promise<ivm.Reference> {
    const context = await this.isolate.createContext();
    const start = () => {
      void this.agent.request({ origin: this.origin, path: this.path, method: 'GET' }).then(async (res) => {
        const text = await res.body.text();
        if (text.length !== 1024) throw new Error('fetch floor: short body');
        this.answered?.();
      });
    };
    await context.global.set('__start', new ivm.Callback(start));
    await context.eval('globalThis.__step = () => { __start(); };');
    return (await context.global.get('__step', { reference: true })) as ivm.Reference;
  }

  /** perRequest runs `n` requests (the isolate starts each; the answer goes back in) and returns µs per request. */
  async perRequest(n: number): Promise<number> {
    this.step ??= await this.setUp();
    const step = this.step;
    const t0 = nowNs();
    for (let i = 0; i < n; i++) {
      const answered = new Promise<void>((resolve) => (this.answered = resolve));
      await step.apply(undefined, []);
      await answered;
    }
    return Number(nowNs() - t0) / 1000 / n;
  }

  async close(): Promise<void> {
    this.step?.release();
    this.isolate.dispose();
    await this.agent.close();
  }
}

async function fetchRatio(rounds: number, url: string): Promise<{ agent: number[]; host: number[]; floor: number[] }> {
  const kernel = fetchKernel();
  const floorRig = new FetchFloor(url);
  const agent: number[] = [];
  const host: number[] = [];
  const floor: number[] = [];
  const N = 300;
  try {
    for (let r = 0; r < rounds; r++) {
      const proc = kernel.spawn(
        programFromSource('fetch-loop.js', `const url = ${JSON.stringify(url)}; for (let i = 0; i < 30; i++) await (await fetch(url)).text(); const t0 = Date.now(); let bytes = 0; for (let i = 0; i < ${N}; i++) bytes += (await (await fetch(url)).text()).length; if (bytes !== ${N * 1024}) throw new Error('short'); console.log(JSON.stringify({ ms: Date.now() - t0 }));`),
        { manifest: FETCHER, stdout: (c) => void (agentOut += new TextDecoder().decode(c)) },
      );
      let agentOut = '';
      const exit = await kernel.wait(proc.pid);
      if (exit.status !== 0) throw new Error(`fetch bench agent: ${JSON.stringify(exit.reason)}`);
      agent.push(((JSON.parse(agentOut.trim()) as { ms: number }).ms * 1000) / N);
      for (let i = 0; i < 30; i++) await (await fetch(url)).text();
      const t0 = nowNs();
      for (let i = 0; i < N; i++) await (await fetch(url)).text();
      host.push(Number(nowNs() - t0) / 1000 / N);
      await floorRig.perRequest(30);
      floor.push(await floorRig.perRequest(N));
    }
  } finally {
    await kernel.shutdown();
    await floorRig.close();
  }
  return { agent, host, floor };
}

/** coldStarts measures spawn → first model request of the AI SDK example in the kernel and, alternately, of the same bundle under plain Node. */
async function coldStarts(rounds: number): Promise<{ kernel: number[]; node: number[] }> {
  const server = await startModelServer();
  const program = await buildProgramFile(join(REPO, 'examples/ai-sdk-agent.ts'));
  const dir = mkdtempSync(join(tmpdir(), 'cold-start-'));
  // The same bundle under Node: the kernel's built-in modules are Node's own; the program runs in its async wrapper as in an isolate.
  const script = join(dir, 'agent.mjs');
  writeFileSync(script, `import { createRequire } from 'node:module';\nconst require = createRequire(import.meta.url);\nglobalThis[Symbol.for('agent-kernel.builtin')] = (name) => require('node:' + name);\nawait (async function main() {\n${program.source}\n})();\n`);
  const kernel = fetchKernel(undefined, [`${server.url}/v1/`]);
  const firstRequest = async (start: () => Promise<void>): Promise<number> => {
    const before = server.requests.length;
    server.script([{ text: 'ok' }]);
    const t0 = nowNs();
    let seen = 0;
    const waiting = new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (server.requests.length > before) {
          seen = Number(nowNs() - t0) / 1e6;
          clearInterval(poll);
          resolve();
        }
      }, 0);
    });
    const done = start();
    await waiting;
    await done;
    return seen;
  };
  const kernelMs: number[] = [];
  const nodeMs: number[] = [];
  const env = { MODEL_BASE_URL: `${server.url}/v1`, MODEL_API_KEY: 'k' };
  try {
    for (let r = 0; r < rounds + 1; r++) {
      const k = await firstRequest(async () => {
        const proc = kernel.spawn(program, { manifest: FETCHER, env, argv: ['q', '--max-retries=0'] });
        await kernel.wait(proc.pid);
      });
      const n = await firstRequest(
        () =>
          new Promise<void>((resolve, reject) => {
            const child = spawn(process.execPath, [script, 'q', '--max-retries=0'], { cwd: dir, env: { ...process.env, ...env }, stdio: 'ignore' });
            child.on('error', reject);
            child.on('close', () => resolve());
          }),
      );
      // The first round warms both (the kernel's layers and code caches, the OS file cache for Node).
      if (r > 0) {
        kernelMs.push(k);
        nodeMs.push(n);
      }
    }
  } finally {
    await kernel.shutdown();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return { kernel: kernelMs, node: nodeMs };
}

async function thousandAsync(url: string): Promise<{ seconds: number; lost: number; allRecorded: boolean; note: string }> {
  const AGENTS = 1000;
  const recorder = new MemoryDecisionLog(AGENTS * 200);
  const kernel = fetchKernel(recorder);
  const program = programFromSource(
    'async-ten.js',
    `const url = ${JSON.stringify(url)};
    const timers = Array.from({ length: 10 }, (_, i) => new Promise((r) => setTimeout(r, 5 + i)));
    const fetches = Array.from({ length: 10 }, async () => (await (await fetch(url)).text()).length);
    const sizes = await Promise.all(fetches); await Promise.all(timers);
    if (sizes.some((s) => s !== 1024)) throw new Error('short body');`,
  );
  let exits: ExitRecord[];
  const t0 = nowNs();
  try {
    const pids: number[] = [];
    for (let i = 0; i < AGENTS; i++) pids.push(kernel.spawn(program, { manifest: FETCHER }).pid);
    exits = await Promise.all(pids.map((pid) => kernel.wait(pid)));
  } finally {
    await kernel.shutdown();
  }
  const seconds = Number(nowNs() - t0) / 1e9;
  const lost = exits.filter((e) => e.status !== 0).length;
  const records = recorder.list();
  const fetchDecisions = records.filter((r) => r.type === 'syscall' && r.syscall === 'SYS_EXEC' && r.effect === 'allow').length;
  const syscallRecords = records.filter((r) => r.type === 'syscall').length;
  const totalSyscalls = exits.reduce((sum, e) => sum + e.syscalls, 0);
  const allRecorded = fetchDecisions === AGENTS * 10 && syscallRecords === totalSyscalls && recorder.count === records.length;
  return { seconds, lost, allRecorded, note: `${fetchDecisions} fetch decisions of ${AGENTS * 10}; ${syscallRecords} syscall records for ${totalSyscalls} syscalls; ${seconds.toFixed(1)} s` };
}

export const userspaceBench: Bench = {
  name: 'userspace',
  keys: ['timer_roundtrip_us', 'fetch_agent_us', 'fetch_host_us', 'fetch_overhead_ratio', 'fetch_overhead_ratio_server_in_kernel', 'fetch_floor_us', 'fetch_floor_over_host', 'fetch_agent_over_floor', 'framework_agent_cold_start_ms', 'framework_node_cold_start_ms', 'framework_cold_start_over_node', 'agents_1000x10_async', 'agents_1000x10_async_s'],
  async run({ rounds, log }: BenchOptions): Promise<Figure[]> {
    const timers = await timerRoundTrip(rounds);
    log(`userspace: timer round trip ${spread(timers, 1)} µs`);
    const server = await kibServer();
    const inKernel = await kibServer(true);
    const url = server.url;
    try {
      const fetches = await fetchRatio(rounds, url);
      const ratios = fetches.agent.map((a, i) => a / fetches.host[i]!);
      const floorOverHost = fetches.floor.map((f, i) => f / fetches.host[i]!);
      const agentOverFloor = fetches.agent.map((a, i) => a / fetches.floor[i]!);
      log(`userspace: 1 KiB fetch, agent ${spread(fetches.agent)} µs, host ${spread(fetches.host)} µs, floor ${spread(fetches.floor)} µs`);
      const shared = await fetchRatio(rounds, inKernel.url);
      const sharedRatios = shared.agent.map((a, i) => a / shared.host[i]!);
      log(`userspace: the same with the server on the kernel's event loop: agent ${spread(shared.agent)} µs, host ${spread(shared.host)} µs`);
      const cold = await coldStarts(Math.max(5, rounds));
      const coldRatios = cold.kernel.map((k, i) => k / cold.node[i]!);
      log(`userspace: AI SDK agent to its first request: kernel ${spread(cold.kernel)} ms, node ${spread(cold.node)} ms`);
      const many = await thousandAsync(url);
      log(`userspace: 1,000 x (10 timers + 10 fetches): ${many.note}`);
      return [
        { key: 'timer_roundtrip_us', value: median(timers), unit: 'µs', target: { op: '<=', bound: 200 }, note: `await setTimeout(0), 5,000 per round, ${rounds} rounds: ${spread(timers, 1)}` },
        { key: 'fetch_agent_us', value: median(fetches.agent), unit: 'µs', note: `1 KiB loopback fetch from an agent: ${spread(fetches.agent)}` },
        { key: 'fetch_host_us', value: median(fetches.host), unit: 'µs', note: `the same fetch from the host (Node's fetch), same run: ${spread(fetches.host)}` },
        { key: 'fetch_overhead_ratio', value: median(ratios), unit: 'x', target: { op: '<=', bound: 1.5 }, note: `the server in its own process; per round agent/host: ${spread(ratios, 2)}` },
        { key: 'fetch_overhead_ratio_server_in_kernel', value: median(sharedRatios), unit: 'x', note: `the server on the kernel's own event loop (how this was measured until 2026-12-06), where its work queues behind the kernel's hops; per round agent/host: ${spread(sharedRatios, 2)}, agent ${spread(shared.agent)} µs, host ${spread(shared.host)} µs` },
        { key: 'fetch_floor_us', value: median(fetches.floor), unit: 'µs', note: `the same request started from a bare isolate's callback, its answer handed back in by apply (isolated-vm's two crossings, no kernel), same rounds: ${spread(fetches.floor)}` },
        { key: 'fetch_floor_over_host', value: median(floorOverHost), unit: 'x', note: `what the crossings alone cost against the host's fetch, per round: ${spread(floorOverHost, 2)}` },
        { key: 'fetch_agent_over_floor', value: median(agentOverFloor), unit: 'x', note: `what the kernel, the http.fetch tool and ring 3's fetch add to the crossings, per round: ${spread(agentOverFloor, 2)}` },
        { key: 'framework_agent_cold_start_ms', value: median(cold.kernel), unit: 'ms', note: `AI SDK example, build cached, spawn to first model request: ${spread(cold.kernel)}` },
        { key: 'framework_node_cold_start_ms', value: median(cold.node), unit: 'ms', note: `the same bundle under plain Node, process start to first request: ${spread(cold.node)}` },
        { key: 'framework_cold_start_over_node', value: median(coldRatios), unit: 'x', target: { op: '<=', bound: 1.5 }, note: `per round: ${spread(coldRatios, 2)}` },
        { key: 'agents_1000x10_async', value: many.lost === 0 && many.allRecorded, unit: 'bool', target: { op: 'true' }, note: many.note },
        { key: 'agents_1000x10_async_s', value: many.seconds, unit: 's' },
      ];
    } finally {
      server.close();
      inKernel.close();
    }
  },
};
