/**
 * Under `everysec` and `no`: whether a batch's write is made on the main thread or
 * handed to Node's thread pool.
 *
 * A write into the page cache takes microseconds, and handing it to the thread pool and
 * back (a wake-up of a pool thread, then of the event loop) cost more than the write
 * itself for a small batch: about 1 µs of CPU per SET, 2–7% of plain SET throughput under
 * redis-benchmark (bench:tcp, and an interleaved A/B). So the write is made directly, as
 * Redis writes its AOF, except:
 * - a batch over DIRECT_MAX_BYTES: copying it costs the event loop more than the hop (a
 *   -P 16 load's 36 KiB batches measured 0.48× Redis direct against 0.53× through the
 *   pool; a bulk load's are megabytes, 5 ms each), and the pool copies it on the other core;
 * - while an fdatasync of the log is in flight: a write into a file being synced can
 *   wait for the sync (Redis postpones its AOF write then, for the same reason);
 * - while a snapshot is being written and fsynced beside it: a write then waited up to
 *   113 ms for the file system's journal (bench:persistence:stall), where the thread
 *   pool's write keeps the event loop's longest stall at 6 ms;
 * - for a while after a direct write took longer than SLOW_WRITE_MS: the kernel is
 *   throttling writes (dirty pages waiting for a slow disk), so the event loop should
 *   not wait on the next ones.
 * Either way the thread pool takes the write and the event loop goes on serving.
 */
import { performance } from 'node:perf_hooks';

/** The largest batch written directly: about as long to copy into the page cache as the trip through the pool. */
export const DIRECT_MAX_BYTES = 16 * 1024;
/** A direct write slower than this sends the writes to the thread pool. */
export const SLOW_WRITE_MS = 10;
/** How long they stay there before a direct write is tried again. */
export const POOL_SPELL_MS = 10_000;

export class WritePath {
  /** Until this time (ms, `now`'s clock) every write goes to the thread pool. */
  private poolUntil = -Infinity;
  /** Direct writes that took longer than SLOW_WRITE_MS since the log was opened. */
  slowWrites = 0;
  /** Other writing to the disk is under way (a snapshot). */
  diskBusy = false;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Whether a write of `bytes` may be made on the main thread now. */
  direct(bytes: number, syncInFlight: boolean): boolean {
    return bytes <= DIRECT_MAX_BYTES && !syncInFlight && !this.diskBusy && this.now() >= this.poolUntil;
  }

  /** A direct write took `ms`. Returns true when that was slow: the next writes go to the thread pool. */
  took(ms: number): boolean {
    if (ms <= SLOW_WRITE_MS) return false;
    this.slowWrites++;
    this.poolUntil = this.now() + POOL_SPELL_MS;
    return true;
  }
}
