import { SnapshotWorkerError } from './snapshot-runner.js';
import type { SnapshotResult } from './snapshot-build.js';
import { DurationHistogram, SNAPSHOT_BUCKETS_S } from '../durations.js';
import type { StatSection } from '../stats.js';

/** A snapshot also starts when the log reaches this size and twice the last snapshot's (as Redis's auto-aof-rewrite). */
export const LOG_SNAPSHOT_MIN_BYTES = 64 * 1024 * 1024;
export const LOG_SNAPSHOT_GROWTH = 2;
/** After a failed snapshot, the timer waits this long before trying again (SAVE still tries at once). */
export const SNAPSHOT_RETRY_MS = 5000;

interface LastSnapshot {
  at: Date;
  ms: number;
  bytes: number;
  keys: number;
  file: string;
}

/** What the timer looks at to decide whether a snapshot is due (Persistence.tick). */
export interface SnapshotDueFacts {
  readonly now: number;
  /** --snapshot-interval in ms; 0 is off. */
  readonly intervalMs: number;
  /** The log holds records that are in no snapshot yet. */
  readonly unsaved: boolean;
  /** Closed segments wait to be folded. */
  readonly closedSegments: boolean;
  /** Bytes of the log, open and closed segments together. */
  readonly logBytes: number;
}

/**
 * The snapshots' record: when the last one was tried and how it went, what it wrote, the
 * counts INFO persistence shows of them, and from these, whether the timer should start one.
 * Persistence runs the snapshots; this only remembers them.
 */
export class SnapshotHistory {
  private last: LastSnapshot | null = null;
  private lastAttemptAt = Date.now();
  private failedLast = false;
  /** A snapshot failed on a damaged input file: retrying cannot help, so only SAVE tries again. */
  private damagedInput = false;
  private saves = 0;
  private failures = 0;
  private readonly startedAt = Date.now();
  readonly durations = new DurationHistogram(SNAPSHOT_BUCKETS_S);

  /** The timer starts counting --snapshot-interval from now (at start, and at each attempt). */
  attempted(now = Date.now()): void {
    this.lastAttemptAt = now;
  }

  succeeded(result: SnapshotResult): void {
    this.saves++;
    this.failedLast = false;
    this.damagedInput = false;
    this.last = { at: new Date(), ms: result.ms, bytes: result.bytes, keys: result.keys, file: result.file };
    this.durations.observe(result.ms / 1000);
  }

  failed(err: unknown): void {
    this.failures++;
    this.failedLast = true;
    this.damagedInput = err instanceof SnapshotWorkerError && err.file !== undefined;
  }

  /** Why the timer should start a snapshot now, or null when none is due. */
  due(f: SnapshotDueFacts): 'log-size' | 'interval' | 'retry' | null {
    if (this.failedLast && (this.damagedInput || f.now - this.lastAttemptAt < SNAPSHOT_RETRY_MS)) return null;
    const threshold = Math.max(LOG_SNAPSHOT_MIN_BYTES, LOG_SNAPSHOT_GROWTH * (this.last?.bytes ?? 0));
    if (f.logBytes >= threshold) return 'log-size';
    if (f.intervalMs > 0 && f.now - this.lastAttemptAt >= f.intervalMs && f.unsaved) return 'interval';
    if (this.failedLast && f.closedSegments) return 'retry';
    return null;
  }

  /**
   * INFO persistence's snapshot fields, in their order there: `changes` made since the last
   * snapshot began, and `runningSince`, when the snapshot running now began (null when none runs).
   */
  info(changes: number, runningSince: number | null): StatSection {
    const last = this.last;
    return {
      snapshot_failures: this.failures,
      rdb_changes_since_last_save: changes,
      rdb_bgsave_in_progress: runningSince !== null ? 1 : 0,
      rdb_current_bgsave_time_sec: runningSince !== null ? Math.floor((Date.now() - runningSince) / 1000) : -1,
      rdb_saves: this.saves,
      rdb_last_save_time: Math.floor((last?.at.getTime() ?? this.startedAt) / 1000),
      rdb_last_bgsave_status: this.failedLast ? 'err' : 'ok',
      rdb_last_bgsave_time_sec: last ? Math.round(last.ms / 1000) : -1,
      snapshot_last_duration_ms: last ? Math.round(last.ms) : -1,
      snapshot_last_size: last?.bytes ?? 0,
      snapshot_last_keys: last?.keys ?? 0,
      snapshot_last_time: last?.at.toISOString() ?? '',
    };
  }
}
