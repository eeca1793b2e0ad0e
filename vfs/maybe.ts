/**
 * MaybePromise: a backend answers at once (memfs) or later (Redis). Code on
 * the syscall path chains with `andThen`, so a synchronous backend never pays
 * for a promise and an asynchronous one blocks only the calling process.
 * (Not named `then`: a module exporting `then` makes its namespace object a
 * thenable, and `await import()` of it — vitest loads every module so — never
 * yields the module.)
 */
export type MaybePromise<T> = T | Promise<T>;

/** andThen applies `next` to `value` now if it is ready, else when it resolves. */
export function andThen<T, U>(value: MaybePromise<T>, next: (v: T) => MaybePromise<U>): MaybePromise<U> {
  return value instanceof Promise ? value.then(next) : next(value);
}
