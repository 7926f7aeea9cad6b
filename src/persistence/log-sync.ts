/**
 * The log's fdatasyncs beside the chain, one at a time: once a second under `everysec`,
 * and whenever everything written must be on disk (rotation, close, SAVE). Under
 * `always` the writes are O_DSYNC and need none.
 */
import type { FsyncPolicy } from '../config.js';
import type { DurationHistogram } from '../durations.js';
import type { AckLedger } from './ack-ledger.js';
import type { LogHealth } from './log-health.js';
import type { CurrentSegment } from './log-io.js';

/** `everysec`: the fdatasync period. */
export const EVERYSEC_MS = 1000;

export interface LogSyncOptions {
  readonly policy: FsyncPolicy;
  readonly ledger: AckLedger;
  readonly health: LogHealth;
  readonly segment: CurrentSegment;
  readonly syncDurations?: DurationHistogram;
}

export class LogSync {
  /** Bytes written and not yet fdatasynced. */
  private unsynced = 0;
  /** The fdatasync in flight, if any; it covers everything written before it started. */
  private syncing: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly opts: LogSyncOptions) {
    if (opts.policy === 'everysec') {
      this.timer = setInterval(() => this.syncIfDirty(), EVERYSEC_MS);
      this.timer.unref();
    }
  }

  /** Whether an fdatasync is running (a write now could wait for it: write-path.ts). */
  get inFlight(): boolean {
    return this.syncing !== null;
  }

  /** `bytes` were written and wait for an fdatasync. */
  wrote(bytes: number): void {
    this.unsynced += bytes;
  }

  /** Nothing written waits for an fdatasync any more: it was synced another way, or its file is gone. */
  forget(): void {
    this.unsynced = 0;
  }

  /** Starts an fdatasync of everything written so far, unless one is running or nothing is unsynced. */
  kick(): void {
    const { health, ledger } = this.opts;
    if (this.syncing !== null || health.failure !== null || this.unsynced === 0) return;
    const bytes = this.unsynced;
    const records = ledger.awaitingSync;
    const done = this.opts.syncDurations?.start();
    this.syncing = this.opts.segment
      .fh()
      .datasync()
      .then(
        () => {
          done?.();
          this.unsynced = Math.max(0, this.unsynced - bytes);
          if (health.failure?.op !== 'gone') ledger.synced(records);
          this.syncing = null;
        },
        (err: unknown) => {
          this.syncing = null;
          health.failed('fsync', err, this.opts.segment.file(), false);
        },
      );
  }

  /** Waits until every byte written so far is fdatasynced. */
  async all(): Promise<void> {
    while (this.syncing !== null) await this.syncing;
    this.kick();
    while (this.syncing !== null) await this.syncing;
  }

  private syncIfDirty(): void {
    if (!this.stopped) this.kick();
  }

  /** At close: no more fdatasyncs on the timer. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
  }
}
