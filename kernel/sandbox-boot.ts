/**
 * bootRuntime lays a fresh isolate out for a program: a context whose global
 * scope holds the kernel's entry points (ivm.Callbacks, arguments and results
 * copied), a copied boot record, and the userspace runtime run in it. What
 * the runtime leaves for the kernel (its signal and completion entry points)
 * comes back as References held host-side, never handed to ring 3.
 *
 * Where the work runs is a trade (bench/spawn.ts, 8 spawners and one at a
 * time, side by side): on the isolate's own thread the event loop is free
 * meanwhile, ~470 spawns/s against ~350 with the context and runtime built
 * on the loop, but each spawn waits for four more thread hand-overs (about
 * +0.5 ms to `spawn_to_exit_ms` on this VM). So a spawn boots on the loop
 * when no other is starting, and on the isolate's thread when others are,
 * which is when the loop is what limits. The isolate itself is always built
 * on the loop: isolated-vm has no other way (~0.9 ms here).
 */
import ivm from 'isolated-vm';
import { compileRuntime, warmRuntime } from './runtime-bundle.ts';
import type { BootRecord } from './process-sandbox.ts';

/** Sandboxes made whose program has not yet run its synchronous part (or blocked in it): spawns under way. */
let starting = 0;

/** startingOne counts a new sandbox as starting until the function it returns is called (once or more). */
export function startingOne(): () => void {
  starting++;
  let done = false;
  return () => {
    if (done) return;
    done = true;
    starting--;
  };
}

/** startingNow is how many sandboxes count as starting. */
export function startingNow(): number {
  return starting;
}

/** othersStarting: a sandbox other than the caller's is starting, so the loop is what limits spawns. */
export function othersStarting(): boolean {
  return starting > 1;
}

/**
 * chargedCpu runs `work` on the calling thread and tells `charge` the CPU time
 * it took (ns): the event loop's own CPU time, not wall time, which on a
 * loaded machine swells with preemption (charged as such, an agent that
 * merely loaded two runtime layers was pushed past its share).
 */
export function chargedCpu<T>(charge: (ns: number) => void, work: () => T): T {
  const began = process.threadCpuUsage();
  try {
    return work();
  } finally {
    const used = process.threadCpuUsage(began);
    charge((used.user + used.system) * 1e3);
  }
}

/** The host functions the runtime reaches the kernel through. */
export interface BootCalls {
  syscall(nr: unknown, ...args: unknown[]): unknown;
  async(flags: unknown, nr: unknown, ...args: unknown[]): unknown;
  collect(ticket: unknown): unknown;
  /** Answers the source-map layer with the program's StackMap, copied (false: none); the runtime layers are given before the program runs (BootedRuntime.give). */
  layer(name: unknown): unknown;
  settle(code: unknown, text: unknown): void;
  /** A recorded or replayed run's clock. */
  clock?(): unknown;
}

/** BootedRuntime is a laid-out isolate: its context and the runtime's entry points, host-side only. */
export interface BootedRuntime {
  readonly context: ivm.Context;
  readonly deliver: ivm.Reference;
  readonly complete: ivm.Reference;
  /** Takes a promise rejection the isolate reported (the runtime's listeners, else the program's end). */
  readonly rejected: ivm.Reference;
  /** Gives ring 3 a runtime layer's function (name, function), before the program's script runs. */
  readonly give: ivm.Reference;
}

/**
 * bootRuntime builds the context (unless `ready` is one, made with a spare
 * isolate) and runs the runtime in `isolate`, on the
 * caller's thread (settled when it returns) or the isolate's; rejects (with
 * the context freed) if the isolate dies or the runtime throws. `charge`
 * is told the CPU time the caller's thread spends on it, either way.
 */
export async function bootRuntime(isolate: ivm.Isolate, ready: ivm.Context | undefined, boot: BootRecord, wake: SharedArrayBuffer, calls: BootCalls, onLoop: boolean, charge: (ns: number) => void): Promise<BootedRuntime> {
  const here = <T>(work: () => T): T => chargedCpu(charge, work);
  const context = ready ?? (onLoop ? here(() => isolate.createContextSync()) : await isolate.createContext());
  try {
    const runtime = here(() => {
      const global = context.global;
      global.setSync('__syscall', new ivm.Callback(calls.syscall));
      global.setSync('__async', new ivm.Callback(calls.async));
      global.setSync('__collect', new ivm.Callback(calls.collect));
      global.setSync('__wake', new ivm.ExternalCopy(wake).copyInto({ release: true }));
      global.setSync('__layer', new ivm.Callback(calls.layer));
      global.setSync('__settle', new ivm.Callback(calls.settle));
      global.setSync('__boot', new ivm.ExternalCopy(boot).copyInto({ release: true }));
      if (calls.clock !== undefined) global.setSync('__clock', new ivm.Callback(calls.clock));
      return compileRuntime(isolate);
    });
    try {
      if (onLoop) here(() => runtime.runSync(context));
      else await runtime.run(context);
      here(() => warmRuntime(isolate));
    } finally {
      runtime.release();
    }
    return here(() => {
      const global = context.global;
      const entry = global.getSync('__entry', { reference: true }) as ivm.Reference<{ deliver: unknown; complete: unknown; rejected: unknown; give: unknown }>;
      const deliver = entry.getSync('deliver', { reference: true }) as ivm.Reference;
      const complete = entry.getSync('complete', { reference: true }) as ivm.Reference;
      const rejected = entry.getSync('rejected', { reference: true }) as ivm.Reference;
      const give = entry.getSync('give', { reference: true }) as ivm.Reference;
      entry.release();
      global.deleteSync('__entry');
      return { context, deliver, complete, rejected, give };
    });
  } catch (err) {
    context.release();
    throw err;
  }
}
