/**
 * Spare isolates: building an isolate and its context is the largest part
 * of a spawn on the event loop (~2 ms of ~4; isolated-vm has no other
 * thread for the isolate), so one is built ahead, in the turn after a
 * spawn, and the next spawn of the same heap size takes it ready. Each is
 * fresh (no code ever ran in it) and handed out once; a spawn that finds
 * none builds its own, as before. At low load a spawn no longer waits for
 * it; under load the loop does the same work as before, a turn later.
 *
 * Each spawn asks for at most one spare to be built (to replace the one it
 * took, or the first of its heap size). What a spare cost to build is paid
 * by the tree whose spawn takes it (it built no isolate of its own) or
 * whose spawn of another size makes it go unused: as a tree paid for
 * building its own isolate, it pays for one per spawn, and a tree that
 * keeps changing heap sizes pays for the spares it throws away, not the
 * trees whose spares they were. Spares are kept for the MAX_SIZES heap
 * sizes last asked for, and disposed by disposeSpares (a kernel shutting
 * down: the next spawn builds them again).
 */
import ivm from 'isolated-vm';

/** FreshIsolate is an isolate no code ran in, its context if a spare (made with it), and where its catastrophic-error handler reports (its sandbox sets `to`). */
export interface FreshIsolate {
  readonly isolate: ivm.Isolate;
  readonly context?: ivm.Context;
  readonly catastrophe: { to: ((message: string) => void) | undefined };
}

/**
 * How many heap sizes have a spare kept (~1.1 MiB each here); the spare of
 * the size asked for longest ago goes first. Past this many sizes in turn,
 * each spawn throws away a spare it pays for (one build, as without spares).
 */
const MAX_SIZES = 4;

/** A spare, and the time its build and context held the event loop, ns (paid by whoever takes it or makes it go unused). */
interface Spare {
  readonly fresh: FreshIsolate;
  readonly costNs: number;
}

/** The spares by heap size (MiB), the size last asked for last; a size is here from its spawn until its spare is taken, or it goes. */
const spares = new Map<number, Spare | 'building'>();

function build(heapMib: number): FreshIsolate {
  const catastrophe: FreshIsolate['catastrophe'] = { to: undefined };
  // Without this handler some out-of-memory paths (a Map grown without bound) abort the whole process.
  const isolate = new ivm.Isolate({ memoryLimit: heapMib, onCatastrophicError: (message) => catastrophe.to?.(message) });
  return { isolate, catastrophe };
}

/** dispose disposes `spare` if it is one; its cost (ns), for whoever made it go unused. */
function dispose(spare: Spare | 'building' | undefined): number {
  if (spare === undefined || spare === 'building') return 0;
  if (!spare.fresh.isolate.isDisposed) spare.fresh.isolate.dispose();
  return spare.costNs;
}

/**
 * freshIsolate is an isolate of `heapMib` MiB of heap for a new sandbox: a
 * spare if one is ready, else one built now (throws as ivm.Isolate does for
 * a size it refuses). A spare's cost, and that of a spare of another size
 * it makes go unused, go to `charge` (the spawning tree); a spare of its
 * size is built in a later turn.
 */
export function freshIsolate(heapMib: number, charge: (ns: number) => void): FreshIsolate {
  const spare = spares.get(heapMib);
  spares.delete(heapMib);
  // A spare in the map is never disposed: disposeSpares and an eviction take it out as they dispose it.
  const taken = spare !== undefined && spare !== 'building' ? spare : undefined;
  const fresh = taken?.fresh ?? build(heapMib);
  let costNs = taken?.costNs ?? 0;
  // The size goes back last, its spare to be built (or, if a refill is under way, left to finish).
  spares.set(heapMib, 'building');
  for (const [size, other] of spares) {
    if (spares.size <= MAX_SIZES) break;
    spares.delete(size);
    costNs += dispose(other);
  }
  if (costNs > 0) charge(costNs);
  if (spare !== 'building') setImmediate(() => refill(heapMib, charge));
  return fresh;
}

/**
 * refill builds the spare of `heapMib` with its context, if the size still
 * wants one; a build that fails leaves none, and the tree that asked
 * (`charge`) pays for it. What a build costs is the time it holds the event
 * loop, as spawn.ts charges a spawn that builds its own isolate (the OS
 * counts a thread's CPU time in ticks: a ~2 ms build could read 0, and a
 * tree whose spare cost it nothing saw its isolate's CPU time overtake the
 * tree's in CI).
 */
function refill(heapMib: number, charge: (ns: number) => void): void {
  if (spares.get(heapMib) !== 'building') return;
  const began = performance.now();
  let fresh: FreshIsolate | undefined;
  try {
    fresh = build(heapMib);
    spares.set(heapMib, { fresh: { ...fresh, context: fresh.isolate.createContextSync() }, costNs: (performance.now() - began) * 1e6 });
  } catch {
    spares.delete(heapMib);
    if (fresh !== undefined && !fresh.isolate.isDisposed) fresh.isolate.dispose();
    charge((performance.now() - began) * 1e6);
  }
}

/** disposeSpares disposes the spares (a kernel shutting down); the next spawn builds them again. */
export function disposeSpares(): void {
  for (const spare of spares.values()) dispose(spare);
  spares.clear();
}

/** ready lists the heap sizes with a spare ready (for tests). */
export function ready(): number[] {
  return [...spares].flatMap(([size, spare]) => (spare === 'building' ? [] : [size]));
}
