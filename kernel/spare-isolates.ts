/**
 * Spare isolates: building an isolate is the largest part of a spawn on the
 * event loop (~1.5 ms of ~4, isolated-vm has no other thread for it), so a
 * few are built ahead, in the turn after a spawn took one, and the next
 * spawn takes one ready. Each is fresh (no code ever ran in it) and handed
 * out once; a spawn that finds none builds its own, as before. At low load
 * a spawn no longer waits for it; under load the loop does the same work
 * as before, a turn later.
 *
 * Spares are kept for the heap size last asked for (the usual spawn's
 * limits), and disposed by disposeSpares (a kernel shutting down: the next
 * spawn builds them again).
 */
import ivm from 'isolated-vm';

/** FreshIsolate is an isolate no code ran in, its context if a spare (made with it), and where its catastrophic-error handler reports (its sandbox sets `to`). */
export interface FreshIsolate {
  readonly isolate: ivm.Isolate;
  readonly context?: ivm.Context;
  readonly catastrophe: { to: ((message: string) => void) | undefined };
}

/** How many spares are kept. */
const SPARES = 2;

let spareHeapMib = 0;
let spares: FreshIsolate[] = [];
let refilling = false;

function build(heapMib: number): FreshIsolate {
  const catastrophe: FreshIsolate['catastrophe'] = { to: undefined };
  // Without this handler some out-of-memory paths (a Map grown without bound) abort the whole process.
  const isolate = new ivm.Isolate({ memoryLimit: heapMib, onCatastrophicError: (message) => catastrophe.to?.(message) });
  return { isolate, catastrophe };
}

/** freshIsolate is an isolate of `heapMib` MiB of heap for a new sandbox: a spare if one is ready, else one built now. */
export function freshIsolate(heapMib: number): FreshIsolate {
  let fresh: FreshIsolate | undefined;
  if (heapMib === spareHeapMib) {
    while (fresh === undefined && spares.length > 0) {
      const spare = spares.pop()!;
      if (!spare.isolate.isDisposed) fresh = spare;
    }
  }
  refill(heapMib);
  return fresh ?? build(heapMib);
}

/** refill builds spares of `heapMib` in a later turn, one a turn, until SPARES are ready; spares of another size go. */
function refill(heapMib: number): void {
  if (heapMib !== spareHeapMib) {
    disposeSpares();
    spareHeapMib = heapMib;
  }
  if (refilling || spares.length >= SPARES) return;
  refilling = true;
  setImmediate(() => {
    refilling = false;
    if (heapMib !== spareHeapMib || spares.length >= SPARES) return;
    const spare = build(heapMib);
    spares.push({ ...spare, context: spare.isolate.createContextSync() });
    refill(heapMib);
  });
}

/** disposeSpares disposes the spares (a kernel shutting down); the next spawn builds them again. */
export function disposeSpares(): void {
  for (const spare of spares) if (!spare.isolate.isDisposed) spare.isolate.dispose();
  spares = [];
  spareHeapMib = 0;
}

/** ready is how many spares are ready, and of what heap size (for tests). */
export function ready(): { count: number; heapMib: number } {
  return { count: spares.length, heapMib: spareHeapMib };
}
