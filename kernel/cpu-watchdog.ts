/**
 * CpuWatchdog enforces CPU-time limits: every 5 ms it reads the CPU time of
 * each watched isolate and ends any process past its limit. The timer runs
 * only while some process is watched.
 */
import type { Process } from './process.ts';

const PERIOD_MS = 5;

export class CpuWatchdog {
  private readonly watched = new Map<Process, number>();
  private timer: NodeJS.Timeout | undefined;
  private readonly kill: (proc: Process, why: string) => void;

  constructor(kill: (proc: Process, why: string) => void) {
    this.kill = kill;
  }

  watch(proc: Process, limitMs: number): void {
    this.watched.set(proc, limitMs);
    this.timer ??= setInterval(() => this.check(), PERIOD_MS);
  }

  unwatch(proc: Process): void {
    this.watched.delete(proc);
    if (this.watched.size === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private check(): void {
    for (const [proc, limitMs] of this.watched) {
      const used = Number(proc.sandbox?.cpuTimeNs ?? 0n) / 1e6;
      if (used > limitMs) this.kill(proc, `CPU time limit ${limitMs} ms (used ${used.toFixed(1)} ms)`);
    }
  }
}
