/**
 * abortUntil runs `onAbort` if `signal` aborts before `settled` settles, and
 * stops listening once it has. For a signal shared by many calls (a
 * process's lifetime), a listener left per call would grow with every call
 * and make each add slower.
 */
export function abortUntil(signal: AbortSignal, onAbort: () => void, settled: Promise<unknown>): void {
  signal.addEventListener('abort', onAbort, { once: true });
  const stop = () => signal.removeEventListener('abort', onAbort);
  settled.then(stop, stop);
}
