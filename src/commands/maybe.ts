import type { MaybePromise } from '../backend/types.js';

/**
 * Applies `f` (which may answer later too) to a value that may still be coming (a backend answers at once or later).
 * Not named `then`: a module exporting `then` is a thenable, and `await import()` of it
 * would call it.
 */
export function andThen<T, R>(v: MaybePromise<T>, f: (t: T) => MaybePromise<R>): MaybePromise<R> {
  return v instanceof Promise ? v.then(f) : f(v);
}

/** Every value, once all are there: at once when none is a promise. */
export function all<T>(vs: ReadonlyArray<MaybePromise<T>>): MaybePromise<T[]> {
  for (const v of vs) if (v instanceof Promise) return Promise.all(vs);
  return vs as T[];
}
