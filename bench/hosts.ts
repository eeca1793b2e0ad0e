/**
 * hosts: sandbox host processes (kernel/hosts), issue 12's containment figures.
 *  - host_blast_radius_lost: 100 healthy agents on a kernel with 2 hosts
 *    (each sleeps, writes a file and prints), then one agent takes V8's
 *    catastrophic out-of-memory path: healthy agents that fail or print
 *    something else (target 0), and whether the kernel ever said it was
 *    degraded (agentd's /readyz answers 503 exactly then).
 *  - host_replace_ms: a host killed with SIGKILL → another host takes
 *    agents, with the default spare kept ready; host_cold_start_ms, the same
 *    with no spare (a fresh host process starting). Medians over rounds.
 *  - idle_agents_10000 (bench `idle10k`, ~80 s and ~15 GiB here): 10,000
 *    idle agents live at once on 4 hosts (one process aborted at 4,064
 *    isolates), the time to reach all idle, and RSS per agent.
 *  - host_syscall_ns, and host_syscall_over_inprocess: SYS_GETPID timed in
 *    the agent on a host, against the same in the kernel's own process,
 *    side by side in this run. The host runs them under the kernel's lease
 *    (kernel/hosts/leases.ts); host_syscall_unleased_ns is the same under a
 *    policy that leases nothing, where every call crosses to the kernel
 *    over IPC and back.
 */
import { readFileSync } from 'node:fs';
import type { Kernel } from '../kernel/kernel.ts';
import type { ExitRecord } from '../kernel/process.ts';
import { parsePolicy } from '../kernel/policy/load.ts';
import { programFromSource } from '../kernel/program.ts';
import { type Bench, type BenchOptions, type Figure, median, quietKernel, sleep, spread } from './stats.ts';

const HEALTHY = 100;
const CALLS = 2000;
/** Timers a round in host_timer_roundtrip_us. */
const TIMERS = 2000;

/** start spawns `source` and collects what it prints; `exited` settles with its exit. */
async function start(kernel: Kernel, source: string): Promise<{ out: () => string; exited: Promise<ExitRecord> }> {
  const decoder = new TextDecoder();
  let text = '';
  const sink = (chunk: Uint8Array) => void (text += decoder.decode(chunk));
  const proc = await kernel.spawnAsync(programFromSource('bench.js', source), { stdout: sink, stderr: sink });
  return { out: () => text, exited: kernel.wait(proc.pid) };
}

async function blastRadius(log: BenchOptions['log']): Promise<Figure[]> {
  const kernel = quietKernel({ hosts: { count: 2, agentsPerHost: 256 } });
  try {
    await kernel.hosts!.readyOnce();
    const healthy = await Promise.all(
      Array.from({ length: HEALTHY }, (_, n) => start(kernel, `await new Promise((r) => setTimeout(r, 500 + ${n} * 5)); sys.writeFile('mem/working/n.txt', '${n}'); console.log('ok', sys.readFile('mem/working/n.txt'));`)),
    );
    let degraded = false;
    const watch = setInterval(() => (degraded ||= kernel.degraded !== undefined), 5);
    const bad = await start(kernel, "const o = {}; let i = 0; while (true) o['k' + i++] = i;");
    const badExit = await bad.exited;
    const ends = await Promise.all(healthy.map((h) => h.exited));
    clearInterval(watch);
    const failed = ends.filter((e, n) => e.status !== 0 || healthy[n]!.out() !== `ok ${n}\n`).length;
    log(`hosts: ${HEALTHY} healthy agents beside a catastrophic one: ${failed} failed; the catastrophic agent exited ${badExit.status}; kernel degraded: ${degraded}`);
    return [
      { key: 'host_blast_radius_lost', value: failed, unit: 'agents', target: { op: '<=', bound: 0 }, note: `${HEALTHY} healthy agents on 2 hosts while one takes the catastrophic path (kernel, not over HTTP; test/hosts/agentd-hosts.test.ts does it through agentd with 20)` },
      { key: 'host_blast_radius_degraded', value: !degraded, unit: '', target: { op: 'true' }, note: 'the kernel never said it was degraded (agentd /readyz stays 200)' },
    ];
  } finally {
    await kernel.shutdown();
  }
}

/** killToReady kills `kernel`'s first host `rounds` times and returns how long until another host took agents, ms each. */
async function killToReady(kernel: Kernel, rounds: number, spares: number): Promise<number[]> {
  const samples: number[] = [];
  await kernel.hosts!.readyOnce();
  for (let i = 0; i < rounds; i++) {
    // Each round starts as a fresh kernel would: the spares ready.
    while (kernel.hosts!.info().filter((h) => h.state === 'spare' && h.ready).length < spares) await sleep(5);
    const victim = kernel.hosts!.info().find((h) => h.state === 'ready')!;
    const t0 = performance.now();
    process.kill(victim.pid!, 'SIGKILL');
    while (!kernel.hosts!.info().some((h) => h.state === 'ready' && h.id !== victim.id)) await sleep(1);
    samples.push(performance.now() - t0);
  }
  return samples;
}

async function replace(rounds: number, log: BenchOptions['log']): Promise<Figure[]> {
  const warm = quietKernel({ hosts: { count: 1, agentsPerHost: 8, spares: 1 } });
  const cold = quietKernel({ hosts: { count: 1, agentsPerHost: 8, spares: 0 } });
  let withSpare: number[];
  let withoutSpare: number[];
  try {
    withSpare = await killToReady(warm, rounds, 1);
    withoutSpare = await killToReady(cold, rounds, 0);
  } finally {
    await Promise.all([warm.shutdown(), cold.shutdown()]);
  }
  log(`hosts: host killed → another host takes agents: ${median(withSpare).toFixed(1)} ms with a spare, ${median(withoutSpare).toFixed(0)} ms without`);
  return [
    { key: 'host_replace_ms', value: median(withSpare), unit: 'ms', target: { op: '<=', bound: 200 }, note: `host death → a host that takes agents, with the default spare kept ready; median over ${rounds}, ${spread(withSpare, 1)}` },
    { key: 'host_cold_start_ms', value: median(withoutSpare), unit: 'ms', note: `the same with no spare (spares: 0): a fresh Node process loading the kernel's modules and isolated-vm; median over ${rounds}, ${spread(withoutSpare)}` },
  ];
}

/** perCall runs CALLS getpids in one agent and returns ns per call, timed in the agent. */
async function perCall(kernel: Kernel): Promise<number> {
  const agent = await start(kernel, `const t0 = performance.now(); for (let i = 0; i < ${CALLS}; i++) sys.getpid(); console.log(String((performance.now() - t0) * 1e6 / ${CALLS}));`);
  const exit = await agent.exited;
  if (exit.status !== 0) throw new Error(`getpid agent exited ${exit.status}: ${agent.out()}`);
  return Number(agent.out().trim());
}

/** perTimer runs TIMERS `await setTimeout(0)`s in one agent and returns µs per timer, timed in the agent. */
async function perTimer(kernel: Kernel): Promise<number> {
  const agent = await start(kernel, `for (let i = 0; i < 100; i++) await new Promise((r) => setTimeout(r, 0)); const t0 = performance.now(); for (let i = 0; i < ${TIMERS}; i++) await new Promise((r) => setTimeout(r, 0)); console.log(String((performance.now() - t0) * 1000 / ${TIMERS}));`);
  const exit = await agent.exited;
  if (exit.status !== 0) throw new Error(`timer agent exited ${exit.status}: ${agent.out()}`);
  return Number(agent.out().trim());
}

async function syscalls(rounds: number, log: BenchOptions['log']): Promise<Figure[]> {
  const local = quietKernel();
  const hosted = quietKernel({ hosts: { count: 1, agentsPerHost: 8 } });
  // A rule that counts calls makes no decision steady: every getpid goes to the kernel, as before leases.
  const unleased = quietKernel({ hosts: { count: 1, agentsPerHost: 8 }, policy: parsePolicy("version: 1\nrules:\n  - id: counted\n    effect: allow\n    syscalls: ['*']\n    limits: { max_calls: 1000000000000 }\n", 'counted.yaml') });
  const inProcess: number[] = [];
  const onHost: number[] = [];
  const viaKernel: number[] = [];
  const ratios: number[] = [];
  const timersLeased: number[] = [];
  const timersUnleased: number[] = [];
  try {
    await Promise.all([hosted.hosts!.readyOnce(), unleased.hosts!.readyOnce()]);
    await perCall(local);
    await perCall(hosted);
    await perCall(unleased);
    for (let i = 0; i < rounds; i++) {
      const a = await perCall(local);
      const b = await perCall(hosted);
      viaKernel.push(await perCall(unleased));
      timersLeased.push(await perTimer(hosted));
      timersUnleased.push(await perTimer(unleased));
      inProcess.push(a);
      onHost.push(b);
      ratios.push(b / a);
    }
  } finally {
    await Promise.all([local.shutdown(), hosted.shutdown(), unleased.shutdown()]);
  }
  log(`hosts: SYS_GETPID ${median(onHost).toFixed(0)} ns on a host, ${median(inProcess).toFixed(0)} ns in the kernel's process`);
  return [
    { key: 'host_syscall_ns', value: median(onHost), unit: 'ns', note: `SYS_GETPID timed in the agent, ${CALLS} calls, median over ${rounds}, ${spread(onHost)}; in the kernel's own process ${median(inProcess).toFixed(0)} ns (${spread(inProcess)})` },
    { key: 'host_syscall_over_inprocess', value: median(ratios), unit: 'x', note: `paired rounds, ${spread(ratios, 2)}: the host runs the getpids under the kernel's lease (one in 257 goes to the kernel)` },
    { key: 'host_timer_roundtrip_us', value: median(timersLeased), unit: 'µs', note: `await setTimeout(0) in an agent on a host, ${TIMERS} a round, the timers run by the host under leases: ${spread(timersLeased, 1)}; under the counting policy (every SYS_TIMER to the kernel and back) ${median(timersUnleased).toFixed(1)} µs (${spread(timersUnleased, 1)})` },
    { key: 'host_syscall_unleased_ns', value: median(viaKernel), unit: 'ns', note: `the same under a policy whose rule counts calls (nothing steady, nothing leased): each crosses host → kernel → host over IPC; ${spread(viaKernel)}` },
  ];
}

export const hostsBench: Bench = {
  name: 'hosts',
  keys: ['host_blast_radius_lost', 'host_blast_radius_degraded', 'host_replace_ms', 'host_cold_start_ms', 'host_syscall_ns', 'host_syscall_over_inprocess', 'host_syscall_unleased_ns', 'host_timer_roundtrip_us'],
  async run({ rounds, log }: BenchOptions): Promise<Figure[]> {
    return [...(await blastRadius(log)), ...(await replace(Math.max(5, rounds), log)), ...(await syscalls(Math.max(5, rounds), log))];
  },
};

/** rssMib is process `pid`'s resident memory, MiB. */
function rssMib(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
}

const IDLE_AGENTS = 10_000;
const IDLE_HOSTS = 4;

export const idleAgentsBench: Bench = {
  name: 'idle10k',
  keys: ['idle_agents_10000', 'idle_agents_10000_s', 'idle_agent_rss_mib_on_hosts'],
  async run({ log }: BenchOptions): Promise<Figure[]> {
    const kernel = quietKernel({ maxProcesses: IDLE_AGENTS + 100, hosts: { count: IDLE_HOSTS, agentsPerHost: IDLE_AGENTS / IDLE_HOSTS + 10, spares: 0 } });
    const everyone = () => rssMib(process.pid) + kernel.hosts!.info().reduce((sum, h) => sum + (h.pid === undefined ? 0 : rssMib(h.pid)), 0);
    try {
      await kernel.hosts!.readyOnce();
      const kernelAlone = rssMib(process.pid);
      const before = everyone();
      const program = programFromSource('idle.js', 'await new Promise(() => {});');
      const t0 = performance.now();
      let next = 0;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (next < IDLE_AGENTS) {
            next++;
            await kernel.spawnAsync(program);
          }
        }),
      );
      while (kernel.ps().some((p) => p.state !== 'blocked')) await sleep(50);
      const seconds = (performance.now() - t0) / 1000;
      const after = everyone();
      const live = kernel.ps().filter((p) => p.state === 'blocked').length;
      const perAgent = (after - before) / IDLE_AGENTS;
      log(`idle10k: ${live} idle agents on ${IDLE_HOSTS} hosts in ${seconds.toFixed(0)} s; ${after.toFixed(0)} MiB in all, ${perAgent.toFixed(2)} MiB an agent`);
      return [
        { key: 'idle_agents_10000', value: live === IDLE_AGENTS, unit: '', target: { op: 'true' }, note: `${live} agents idle at once on ${IDLE_HOSTS} sandbox hosts (one process aborted at 4,064 isolates)` },
        { key: 'idle_agents_10000_s', value: seconds, unit: 's', note: '16 concurrent spawners, spawn to the last agent idle' },
        { key: 'idle_agent_rss_mib_on_hosts', value: perAgent, unit: 'MiB', note: `RSS of the kernel and its hosts, after − before, per agent; with the hosts' own baselines amortised ${((after - kernelAlone) / IDLE_AGENTS).toFixed(2)} MiB; the kernel's process alone ${rssMib(process.pid).toFixed(0)} MiB` },
      ];
    } finally {
      await kernel.shutdown();
    }
  },
};
