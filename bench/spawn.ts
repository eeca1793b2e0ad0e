/**
 * spawn: wall time from `kernel.spawn()` to `kernel.wait()` resolving, for an
 * agent that makes one syscall and returns. One process at a time, so the
 * figure is latency, not throughput.
 */
import { programFromSource } from '../kernel/program.ts';
import { type Bench, type BenchOptions, type Figure, median, nowNs, quantile, quietKernel } from './stats.ts';

const RUNS = 250;
const WARMUP = 20;

export const spawnBench: Bench = {
  name: 'spawn',
  keys: ['spawn_to_exit_ms', 'spawn_to_exit_p90_ms'],
  async run({ log }: BenchOptions): Promise<Figure[]> {
    const kernel = quietKernel();
    const program = programFromSource('one-syscall.js', 'syscall(SYS.SYS_GETPID);');
    const samples: number[] = [];
    try {
      for (let i = 0; i < WARMUP + RUNS; i++) {
        const t0 = nowNs();
        const proc = kernel.spawn(program);
        const exit = await kernel.wait(proc.pid);
        const ms = Number(nowNs() - t0) / 1e6;
        if (exit.status !== 0 || exit.syscalls !== 1) throw new Error(`spawn bench agent: status ${exit.status}, ${exit.syscalls} syscalls`);
        if (i >= WARMUP) samples.push(ms);
      }
    } finally {
      await kernel.shutdown();
    }
    log(`spawn: ${RUNS} runs, min ${Math.min(...samples).toFixed(2)} ms, max ${Math.max(...samples).toFixed(2)} ms`);
    return [
      { key: 'spawn_to_exit_ms', value: median(samples), unit: 'ms', target: { op: '<=', bound: 5 }, note: `median of ${RUNS} runs after ${WARMUP} warm-up` },
      { key: 'spawn_to_exit_p90_ms', value: quantile(samples, 0.9), unit: 'ms' },
    ];
  },
};
