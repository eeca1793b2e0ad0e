/**
 * MaybePromise: a backend answers at once (memfs) or later (Redis). Code on
 * the syscall path chains with `then`, so a synchronous backend never pays
 * for a promise and an asynchronous one blocks only the calling process.
 */
export type MaybePromise<T> = T | Promise<T>;

/** then applies `next` to `value` now if it is ready, else when it resolves. */
export function then<T, U>(value: MaybePromise<T>, next: (v: T) => MaybePromise<U>): MaybePromise<U> {
  return value instanceof Promise ? value.then(next) : next(value);
}
