/**
 * hostsScaling: issue 12's `hosts_scaling_ratio`, the syscall throughput of
 * many agents on 2 sandbox hosts ÷ the same on 1 host, in alternating rounds
 * of one run (the aim is ≥ 1.8 on this 2-core machine), with the same work
 * in the kernel's own process for scale. The issue names 1,000 agents ×
 * 1,000 getpids; at what a host does today (every syscall crosses to the
 * kernel's process over IPC) that is minutes a configuration, so the rounds
 * run AGENTS × CALLS and say so.
 */
import type { Kernel } from '../kernel/kernel.ts';
import { programFromSource } from '../kernel/program.ts';
import { type Bench, type BenchOptions, type Figure, median, nowNs, quietKernel, spread } from './stats.ts';

const AGENTS = 200;
const CALLS = 250;
const AGENT = programFromSource('scaling.js', `const nr = SYS.SYS_GETPID;\nfor (let i = 0; i < ${CALLS}; i++) syscall(nr);`);

/** syscallsPerSecond spawns AGENTS agents of CALLS getpids each on `kernel` and times spawn to the last exit. */
async function syscallsPerSecond(kernel: Kernel): Promise<number> {
  if (kernel.hosts) await kernel.hosts.readyOnce();
  const t0 = nowNs();
  const pids: number[] = [];
  for (let i = 0; i < AGENTS; i++) pids.push((await kernel.spawnAsync(AGENT)).pid);
  const ends = await Promise.all(pids.map((pid) => kernel.wait(pid)));
  const seconds = Number(nowNs() - t0) / 1e9;
  const failed = ends.find((e) => e.status !== 0);
  if (failed !== undefined) throw new Error(`hosts scaling: an agent ended with status ${failed.status}: ${JSON.stringify(failed.reason)}`);
  return (AGENTS * CALLS) / seconds;
}

async function measure(hosts: number | undefined): Promise<number> {
  const kernel = quietKernel(hosts === undefined ? {} : { hosts: { count: hosts, agentsPerHost: AGENTS } });
  try {
    return await syscallsPerSecond(kernel);
  } finally {
    await kernel.shutdown();
  }
}

export const hostsScalingBench: Bench = {
  name: 'hostsScaling',
  keys: ['hosts_scaling_ratio', 'hosts_1_syscalls_per_s', 'hosts_2_syscalls_per_s'],
  async run({ rounds, log }: BenchOptions): Promise<Figure[]> {
    const one: number[] = [];
    const two: number[] = [];
    const here: number[] = [];
    const ratios: number[] = [];
    await measure(1);
    for (let r = 0; r < Math.min(rounds, 3); r++) {
      const a = await measure(1);
      const b = await measure(2);
      here.push(await measure(undefined));
      one.push(a);
      two.push(b);
      ratios.push(b / a);
      log(`hosts scaling round ${r + 1}: ${a.toFixed(0)} syscalls/s on 1 host, ${b.toFixed(0)} on 2, ${here.at(-1)!.toFixed(0)} in the kernel's process`);
    }
    const work = `${AGENTS} agents × ${CALLS} getpids`;
    return [
      { key: 'hosts_scaling_ratio', value: median(ratios), unit: '×', target: { op: '>=', bound: 1.8 }, note: `${spread(ratios, 2)}: ${work} on 2 hosts ÷ on 1 host, paired rounds; every syscall crosses to the kernel's process over IPC and back (bench/README.md)` },
      { key: 'hosts_1_syscalls_per_s', value: median(one), unit: 'calls/s', note: `${spread(one)}: ${work} on 1 sandbox host, spawn to the last exit; the same in the kernel's own process ${median(here).toFixed(0)}/s (${spread(here)})` },
      { key: 'hosts_2_syscalls_per_s', value: median(two), unit: 'calls/s', note: `${spread(two)}: the same on 2 sandbox hosts` },
    ];
  },
};
