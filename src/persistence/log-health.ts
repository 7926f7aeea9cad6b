/**
 * The append-only log's health: what broke (a failed write or fsync, or files deleted
 * under the server), the errors clients get while it lasts, and the timer that retries a
 * failed write. AppendLog owns the file and the records; this owns the verdict.
 */
import type { Logger } from 'pino';
import { KvError } from '../errors.js';
import type { MissingFiles } from './file-check.js';
import { describeFailure, type LogFailure } from './log-io.js';

/** How often a failed write is tried again (after truncating what it left behind). */
export const WRITE_RETRY_MS = 1000;

export interface LogHealthOptions {
  readonly dir: string;
  readonly log: Logger;
  /** Called when writing fails and when it recovers. */
  readonly onFailureChange?: (failure: LogFailure | null) => void;
  /** Tries the failed write again (every WRITE_RETRY_MS while a write failure lasts). */
  readonly retry: () => void;
  /** Where the open segment can still be read, for the message when its name is gone. */
  readonly rescuePath: () => string;
}

export class LogHealth {
  private failure_: LogFailure | null = null;
  /** Failed writes, fsyncs, opens, closes and file checks on the log's files (INFO: aof_write_errors). */
  ioErrors = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly opts: LogHealthOptions) {}

  get failure(): LogFailure | null {
    return this.failure_;
  }

  /** A write (retryable) or an fsync (not: the page cache can no longer be trusted) failed. */
  failed(op: 'write' | 'fsync', err: unknown, file: string, retryable: boolean): void {
    this.ioErrors++;
    // Deleted files explain every later error: keep saying that.
    if (this.failure_?.op === 'gone') return;
    const failure: LogFailure = { op, err: err as NodeJS.ErrnoException, file, at: new Date(), retryable };
    const changed = this.failure_ === null || this.failure_.op !== op;
    this.failure_ = failure;
    if (!changed) return;
    this.opts.log.error(
      { err, op, file, retryable },
      retryable
        ? 'append-only log write failed; refusing writes until it can be written again'
        : 'append-only log fsync failed; refusing writes until the server is restarted',
    );
    this.opts.onFailureChange?.(failure);
    if (!retryable) this.clearRetry();
    else if (this.retryTimer === null && !this.stopped) {
      this.retryTimer = setInterval(() => this.opts.retry(), WRITE_RETRY_MS);
      this.retryTimer.unref();
    }
  }

  /** Whether `missing` tells more than is known: the first loss, or the whole directory after the segment. */
  isNews(missing: MissingFiles): boolean {
    const was = this.failure_;
    return was?.op !== 'gone' || (missing.dir && was.missing?.dir !== true);
  }

  /** The files went away under us: no write can be made durable, and restarting would lose data. */
  gone(missing: MissingFiles, file: string, writesNotOnDisk: () => number): void {
    const failure: LogFailure = {
      op: 'gone',
      err: Object.assign(new Error(missing.what), { code: 'ENOENT' }),
      file,
      at: new Date(),
      retryable: false,
      missing,
    };
    this.failure_ = failure;
    this.clearRetry();
    this.opts.log.error(
      { dir: this.opts.dir, file, missing: missing.what, writesNotOnDisk: writesNotOnDisk(), rescue: this.opts.rescuePath() },
      'data files deleted under the server; refusing writes until it is restarted',
    );
    this.opts.onFailureChange?.(failure);
  }

  /** The retry wrote everything that was held back. */
  recovered(bytes: number): void {
    const was = this.failure_;
    this.failure_ = null;
    this.clearRetry();
    this.opts.log.warn({ file: was?.file, after: was?.err.code, bytes }, 'append-only log writes recovered; accepting writes again');
    this.opts.onFailureChange?.(null);
  }

  /** At close: no more retries. */
  stop(): void {
    this.stopped = true;
    this.clearRetry();
  }

  private clearRetry(): void {
    if (this.retryTimer) clearInterval(this.retryTimer);
    this.retryTimer = null;
  }

  /** The error every write is refused with while the log is failing (RESP: -MISCONF, as Redis). */
  refusal(): KvError {
    return new KvError('READ_ONLY', `writes are refused: ${this.refusalReason()}`, { cause: this.failure_?.err });
  }

  /** What failed and what to do, for MISCONF and for a SAVE that cannot run. */
  refusalReason(): string {
    return `${describeFailure(this.failure_)}. Reads still work${this.whatToDo()}`;
  }

  /** For deleted files: what an operator can still save, since a restart would not bring it back. */
  private whatToDo(): string {
    const f = this.failure_;
    if (f?.op !== 'gone') return '';
    const rescue = this.opts.rescuePath();
    if (f.missing?.dir) {
      return (
        `. Before stopping this server, read out the keys you need; ${rescue} is the deleted log segment ` +
        `(the writes since the last snapshot), still open. Then restore ${this.opts.dir} from a backup and restart`
      );
    }
    return `. Before stopping this server, copy ${rescue} (the deleted segment, still open) back to ${f.file}: the restart then loads it`;
  }

  /** The error a client gets for a write applied in memory that the log could not make durable. */
  unacknowledged(): KvError {
    const after = this.failure_?.retryable
      ? 'it is written if the log recovers, and lost if the server restarts first'
      : 'it is lost when the server restarts';
    return new KvError(
      'READ_ONLY',
      `write not acknowledged: ${describeFailure(this.failure_)}. The change is in memory but not on disk: ${after}`,
      { cause: this.failure_?.err },
    );
  }
}
