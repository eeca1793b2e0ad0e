/**
 * CpuWatchdog enforces CPU-time limits on process trees: every 5 ms it reads
 * the CPU time of each watched tree (its isolates and the kernel's work for
 * it) and ends a tree past its limit. The timer runs only while some tree is
 * watched.
 */
import type { Lineage } from './lineage.ts';

const PERIOD_MS = 5;

export class CpuWatchdog {
  private readonly watched = new Set<Lineage>();
  private timer: NodeJS.Timeout | undefined;
  private readonly cpuNs: (lineage: Lineage) => number;
  private readonly kill: (lineage: Lineage, why: string) => void;

  constructor(cpuNs: (lineage: Lineage) => number, kill: (lineage: Lineage, why: string) => void) {
    this.cpuNs = cpuNs;
    this.kill = kill;
  }

  watch(lineage: Lineage): void {
    this.watched.add(lineage);
    this.timer ??= setInterval(() => this.check(), PERIOD_MS);
  }

  unwatch(lineage: Lineage): void {
    this.watched.delete(lineage);
    if (this.watched.size === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private check(): void {
    for (const lineage of this.watched) {
      const limitMs = lineage.limits.cpuMs;
      if (limitMs === undefined) continue;
      const used = this.cpuNs(lineage) / 1e6;
      if (used > limitMs) {
        this.unwatch(lineage);
        this.kill(lineage, `CPU time limit ${limitMs} ms (used ${used.toFixed(1)} ms)`);
      }
    }
  }
}
