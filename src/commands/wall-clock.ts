import { performance } from 'node:perf_hooks';

/**
 * The wall clock in milliseconds with a fraction, as Redis's gettimeofday gives TIME
 * and MONITOR: Date.now() for the milliseconds (performance.timeOrigin + now() is a
 * monotonic clock from the process's start, and drifts from the wall clock by
 * milliseconds within hours), and performance.now()'s fraction for the digits below.
 */
export function wallClockMs(): number {
  return Date.now() + (performance.now() % 1);
}
