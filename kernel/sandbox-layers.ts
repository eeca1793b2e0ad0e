/**
 * What a sandbox hands ring 3 besides its boot record: the runtime layers
 * its program's text names, before the program runs (giveLayers), and its
 * source map, once, when ring 3 first formats a stack trace (sourceMapOnce).
 */
import type ivm from 'isolated-vm';
import { SOURCE_MAP_LAYER, stackMapFor } from './agent-stack.ts';
import type { Program } from './program.ts';
import { compileLayer, compileWarmLayer, LAYERS } from './runtime-bundle.ts';
import { chargedCpu, type BootedRuntime } from './sandbox-boot.ts';

/**
 * giveLayers hands ring 3 the runtime layers `names` (the boot record's
 * `layers`, those the program's text names), before its script runs: each
 * compiled with its code cache, its script's run only making the function
 * that holds it, which ring 3 runs on first use, on the isolate's own
 * thread. The plain cache is read on the kernel's thread (~0.5 ms: less
 * than the hand-overs to the isolate's thread and back), charged to the
 * tree (`charge`); the warm one (with `common`, the boot record's
 * `commonPaths`; runtime-bundle.ts compileWarmLayer) on the isolate's own.
 * No other layer is given: compiling
 * or running in the isolate from the kernel's thread once any of the
 * program's code has run does isolated-vm's end-of-call work there — the
 * program's microtasks, the reason of a promise it left rejected read
 * through its getters — which nothing stops (found by an attacker pass and
 * two reviews: a layer loaded by a computed `URL` in the middle of a
 * program, or by code smuggled out of the program's wrapper before
 * `__start`, held the kernel's event loop for good).
 */
export async function giveLayers(isolate: ivm.Isolate, runtime: BootedRuntime, names: readonly string[], common: boolean, charge: (ns: number) => void): Promise<void> {
  for (const name of names) {
    const layer = LAYERS.find((known) => known === name);
    if (layer === undefined) continue;
    const warm = common ? compileWarmLayer(isolate, layer) : undefined;
    const script = warm === undefined ? chargedCpu(charge, () => compileLayer(isolate, layer)) : await warm;
    try {
      if (warm === undefined) {
        chargedCpu(charge, () => {
          const made = script.runSync(runtime.context, { reference: true }) as ivm.Reference<unknown>;
          runtime.give.applySync(undefined, [layer, made.derefInto({ release: true })]);
        });
      } else {
        const made = (await script.run(runtime.context, { reference: true })) as ivm.Reference<unknown>;
        await runtime.give.apply(undefined, [layer, made.derefInto({ release: true })]);
      }
    } finally {
      script.release();
    }
  }
}

/**
 * sourceMapOnce answers ring 3's one question for the host (`__layer`):
 * `program`'s source map, the first time it is asked for SOURCE_MAP_LAYER,
 * as the call's copied result; false otherwise (none, asked before, too
 * large for the isolate's heap of `memoryLimitMib`). Nothing is compiled or
 * run in the isolate from here. Reading the map holds the event loop: the
 * tree pays (`charge`).
 */
export function sourceMapOnce(program: Program, memoryLimitMib: number, charge: (ns: number) => void): (name: unknown) => unknown {
  let given = false;
  return (name) => {
    if (name !== SOURCE_MAP_LAYER || given) return false;
    given = true;
    return chargedCpu(charge, () => stackMapFor(program, memoryLimitMib)) ?? false;
  };
}
