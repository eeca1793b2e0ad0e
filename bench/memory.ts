/**
 * memory: resident set size per idle agent. Spawn agents that await a promise
 * that never settles, wait until every one is 'blocked', and divide the RSS
 * growth (after a full GC on both sides, with --expose-gc) by their number.
 * Each round runs in a fresh Node process (this file, run as a script): in a
 * process that has already freed isolates, new ones reuse the freed pages and
 * the growth under-reports.
 */
import { fileURLToPath } from 'node:url';
import type { Kernel } from '../kernel/kernel.ts';
import { programFromSource } from '../kernel/program.ts';
import { type Bench, type BenchOptions, collect, type Figure, median, quietKernel, runScript, sleep, spread } from './stats.ts';

const AGENTS = 200;
const MIB = 1024 * 1024;

interface RoundResult {
  readonly perAgentMib: number;
  readonly beforeMib: number;
  readonly afterMib: number;
  readonly idleMs: number;
  readonly gc: boolean;
}

async function allBlocked(kernel: Kernel, count: number, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const table = kernel.ps();
    const blocked = table.filter((p) => p.state === 'blocked').length;
    if (blocked === count) return;
    if (table.some((p) => p.state === 'exited')) throw new Error('an idle agent exited');
    if (Date.now() > until) throw new Error(`only ${blocked}/${count} agents went idle`);
    await sleep(20);
  }
}

async function settledRss(): Promise<number> {
  collect();
  await sleep(50);
  collect();
  return process.memoryUsage().rss;
}

/** idleAgents spawns `agents` idle agents, measures, and shuts the kernel down. */
async function idleAgents(agents: number): Promise<RoundResult> {
  const kernel = quietKernel();
  const program = programFromSource('idle.js', 'await new Promise(() => {});');
  const before = await settledRss();
  const t0 = Date.now();
  try {
    for (let i = 0; i < agents; i++) kernel.spawn(program);
    await allBlocked(kernel, agents);
    const idleMs = Date.now() - t0;
    const after = await settledRss();
    return { perAgentMib: (after - before) / agents / MIB, beforeMib: before / MIB, afterMib: after / MIB, idleMs, gc: collect() };
  } finally {
    await kernel.shutdown();
  }
}

/** childRound runs one round in a fresh Node process with this process's flags. */
async function childRound(): Promise<RoundResult> {
  const file = fileURLToPath(import.meta.url);
  const stdout = await runScript(file, [String(AGENTS)], { timeoutMs: 120_000 });
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as RoundResult;
}

export const memoryBench: Bench = {
  name: 'memory',
  keys: ['rss_per_idle_agent_mib'],
  async run({ rounds, log }: BenchOptions): Promise<Figure[]> {
    const n = Math.max(3, Math.min(rounds, 5));
    const samples: number[] = [];
    let gc = true;
    for (let r = 0; r < n; r++) {
      const res = await childRound();
      samples.push(res.perAgentMib);
      gc &&= res.gc;
      log(`memory round ${r + 1}/${n}: ${res.perAgentMib.toFixed(2)} MiB per idle agent (RSS ${res.beforeMib.toFixed(0)} → ${res.afterMib.toFixed(0)} MiB, ${AGENTS} idle in ${res.idleMs} ms)`);
    }
    return [
      {
        key: 'rss_per_idle_agent_mib',
        value: median(samples),
        unit: 'MiB',
        target: { op: '<=', bound: 2 },
        note: `${AGENTS} idle agents per round, one fresh process per round, ${spread(samples, 2)} rounds${gc ? '' : ', without --expose-gc'}`,
      },
    ];
  },
};

// As a script: one round after a one-agent warm-up (one-time costs such as
// the first isolate's setup are not per-agent), printed as one JSON line.
if (import.meta.main) {
  const agents = Number(process.argv[2]) || AGENTS;
  await idleAgents(1);
  console.log(JSON.stringify(await idleAgents(agents)));
}
