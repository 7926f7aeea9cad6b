/**
 * A histogram of how long a rare operation took (an fdatasync, a snapshot), kept as plain
 * counts so that INFO and /metrics read the same numbers (src/metrics/server-metrics.ts).
 */

/** Bounds in seconds for disk syncs: an fdatasync takes about 0.1 ms on tmpfs and up to seconds on a busy disk. */
export const SYNC_BUCKETS_S: readonly number[] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** Bounds in seconds for snapshots, which take from milliseconds (an empty store) to minutes (many millions of keys). */
export const SNAPSHOT_BUCKETS_S: readonly number[] = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

export class DurationHistogram {
  /** Each bucket's own count (not cumulative); the last slot holds what is over the last bound. */
  readonly counts: Float64Array;
  /** Seconds, summed over every observation. */
  sum = 0;
  count = 0;

  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(seconds: number): void {
    let b = 0;
    while (b < this.bounds.length && seconds > (this.bounds[b] as number)) b++;
    this.counts[b]! += 1;
    this.sum += seconds;
    this.count++;
  }

  /** Starts timing one operation; the returned function records it when the operation ends. */
  start(): () => void {
    const t0 = performance.now();
    return () => this.observe((performance.now() - t0) / 1000);
  }
}
