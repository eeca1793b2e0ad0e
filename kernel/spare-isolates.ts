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
 * took, or the first of its heap size), and its tree pays for that build
 * (`charge`), as it paid for building its own isolate: a tree that keeps
 * changing heap sizes pays for the spares it makes go unused. Spares are
 * kept for the MAX_SIZES heap sizes last asked for, and disposed by
 * disposeSpares (a kernel shutting down: the next spawn builds them again).
 */
import ivm from 'isolated-vm';

/** FreshIsolate is an isolate no code ran in, its context if a spare (made with it), and where its catastrophic-error handler reports (its sandbox sets `to`). */
export interface FreshIsolate {
  readonly isolate: ivm.Isolate;
  readonly context?: ivm.Context;
  readonly catastrophe: { to: ((message: string) => void) | undefined };
}

/** How many heap sizes have a spare kept; the spare of the size asked for longest ago goes first. */
const MAX_SIZES = 2;

/** The spares by heap size (MiB), the size last asked for last; a size is here from its spawn until its spare is taken, or it goes. */
const spares = new Map<number, FreshIsolate | 'building'>();

function build(heapMib: number): FreshIsolate {
  const catastrophe: FreshIsolate['catastrophe'] = { to: undefined };
  // Without this handler some out-of-memory paths (a Map grown without bound) abort the whole process.
  const isolate = new ivm.Isolate({ memoryLimit: heapMib, onCatastrophicError: (message) => catastrophe.to?.(message) });
  return { isolate, catastrophe };
}

function dispose(spare: FreshIsolate | 'building' | undefined): void {
  if (spare !== undefined && spare !== 'building' && !spare.isolate.isDisposed) spare.isolate.dispose();
}

/**
 * freshIsolate is an isolate of `heapMib` MiB of heap for a new sandbox: a
 * spare if one is ready, else one built now (throws as ivm.Isolate does for
 * a size it refuses). Either way, a spare of that size is built in a later
 * turn, charged to `charge` (the spawning tree).
 */
export function freshIsolate(heapMib: number, charge: (ns: number) => void): FreshIsolate {
  const spare = spares.get(heapMib);
  spares.delete(heapMib);
  const fresh = spare !== undefined && spare !== 'building' && !spare.isolate.isDisposed ? spare : build(heapMib);
  // The size goes back last, its spare to be built (or, if a refill is under way, left to finish).
  spares.set(heapMib, 'building');
  for (const [size, other] of spares) {
    if (spares.size <= MAX_SIZES) break;
    spares.delete(size);
    dispose(other);
  }
  if (spare !== 'building') setImmediate(() => refill(heapMib, charge));
  return fresh;
}

/** refill builds the spare of `heapMib` with its context, if the size still wants one, and charges the tree that asked; a build that fails leaves none. */
function refill(heapMib: number, charge: (ns: number) => void): void {
  if (spares.get(heapMib) !== 'building') return;
  const began = process.threadCpuUsage();
  try {
    const spare = build(heapMib);
    const made = { ...spare, context: spare.isolate.createContextSync() };
    if (spares.get(heapMib) === 'building') spares.set(heapMib, made);
    else dispose(made);
  } catch {
    spares.delete(heapMib);
  } finally {
    const used = process.threadCpuUsage(began);
    charge((used.user + used.system) * 1e3);
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
