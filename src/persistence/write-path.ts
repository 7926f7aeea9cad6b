/**
 * Under `everysec` and `no`: whether a batch's write is made on the main thread or
 * handed to Node's thread pool.
 *
 * A write into the page cache takes microseconds, and handing it to the thread pool and
 * back (a wake-up of a pool thread, then of the event loop) cost more than the write
 * itself: about 1 µs of CPU per SET, 7% of SET throughput under redis-benchmark (measured
 * with bench:tcp). So the write is made directly, as Redis writes its AOF, except:
 * - while an fdatasync of the log is in flight: a write into a file being synced can
 *   wait for the sync (Redis postpones its AOF write then, for the same reason);
 * - for a while after a direct write took longer than SLOW_WRITE_MS: the kernel is
 *   throttling writes (dirty pages waiting for a slow disk), so the event loop should
 *   not wait on the next ones.
 * Either way the thread pool takes the write and the event loop goes on serving.
 */
import { performance } from 'node:perf_hooks';

/** A direct write slower than this sends the writes to the thread pool. */
export const SLOW_WRITE_MS = 10;
/** How long they stay there before a direct write is tried again. */
export const POOL_SPELL_MS = 10_000;

export class WritePath {
  /** Until this time (ms, `now`'s clock) every write goes to the thread pool. */
  private poolUntil = -Infinity;
  /** Direct writes that took longer than SLOW_WRITE_MS since the log was opened. */
  slowWrites = 0;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Whether the next write may be made on the main thread. */
  direct(syncInFlight: boolean): boolean {
    return !syncInFlight && this.now() >= this.poolUntil;
  }

  /** A direct write took `ms`. Returns true when that was slow: the next writes go to the thread pool. */
  took(ms: number): boolean {
    if (ms <= SLOW_WRITE_MS) return false;
    this.slowWrites++;
    this.poolUntil = this.now() + POOL_SPELL_MS;
    return true;
  }
}
