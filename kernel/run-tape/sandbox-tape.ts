/**
 * SandboxTape is what a sandbox keeps for a recorded or replayed run: the
 * tape, the lane its entries into the isolate take one after another (each
 * told to the tape as it starts, every earlier one having ended, so the
 * tape sees them in the order the isolate runs them), and the clock ring 3
 * reads — each read charged to the process's tree: its own time and a
 * crossing's (CLOCK_CROSSING_NS), which a loop of Date.now() would otherwise
 * run for free on the event loop.
 */
import type { BoundaryTape, Entry } from './boundary-tape.ts';

/** What a clock read's crossing costs the event loop, as charged (a synchronous callback's hand-over: 20–40 µs unpinned, bench/crossing). */
export const CLOCK_CROSSING_NS = 20_000;

export class SandboxTape {
  readonly tape: BoundaryTape;
  private lane: Promise<unknown> = Promise.resolve();
  private readonly charge: (ns: number) => void;

  constructor(tape: BoundaryTape, charge: (ns: number) => void) {
    this.tape = tape;
    this.charge = charge;
  }

  /** clock is ring 3's read of the tape's clock, charged. */
  clock(): number {
    const started = performance.now();
    const now = this.tape.clock();
    this.charge((performance.now() - started) * 1e6 + CLOCK_CROSSING_NS);
    return now;
  }

  /** started puts the program's start first in the lane. */
  started(running: Promise<unknown>): void {
    this.lane = running.catch(() => undefined);
  }

  /** entry runs `apply` once every earlier entry has ended (never, if the sandbox has ended meanwhile), telling the tape first. */
  entry(what: Entry, ended: () => boolean, apply: () => Promise<unknown>): Promise<unknown> {
    const next = this.lane.then(() => {
      if (ended()) return undefined;
      this.tape.entering(what);
      return apply();
    });
    this.lane = next.catch(() => undefined);
    return next;
  }
}
