/**
 * The log's watch on its files: once a second, at each rotation, and under `always`
 * before each batch is acknowledged, it asks file-check.ts whether the data directory
 * and the open segment are still where the next start will read them.
 */
import type { Logger } from 'pino';
import { findMissingFiles, isUnlinked, type FileIdentity, type MissingFiles } from './file-check.js';
import type { LogHealth } from './log-health.js';
import type { CurrentSegment } from './log-io.js';

/** How often the data directory and the open segment are checked (file-check.ts). */
export const FILE_CHECK_MS = 1000;

export interface FileWatchOptions {
  readonly dir: string;
  /** The data directory as it was opened. */
  readonly dirId: FileIdentity;
  readonly log: Logger;
  readonly health: LogHealth;
  readonly segment: CurrentSegment;
  /** Runs a check on the log's chain, so that the segment does not change under it. */
  readonly enqueue: (op: () => Promise<void>) => Promise<void>;
  /** The files went away under us. */
  readonly gone: (missing: MissingFiles) => void;
}

export class FileWatch {
  private readonly timer: NodeJS.Timeout;
  private checking = false;
  /** The last error the file check met, so that a check failing every second is logged once. */
  private checkError: string | null = null;
  private stopped = false;

  constructor(private readonly opts: FileWatchOptions) {
    this.timer = setInterval(() => this.checkSoon(), FILE_CHECK_MS);
    this.timer.unref();
  }

  /** The `always` policy's per-batch check (an fstat); a failing fstat is counted, not fatal. */
  segmentUnlinked(): boolean {
    try {
      return isUnlinked(this.opts.segment.fh().fd);
    } catch (err) {
      this.opts.health.ioErrors++;
      this.opts.log.warn({ err, file: this.opts.segment.file() }, 'could not fstat the log segment');
      return false;
    }
  }

  /** Starts a file check on the chain, unless one is waiting there already. */
  private checkSoon(): void {
    if (this.checking || this.stopped) return;
    this.checking = true;
    this.opts
      .enqueue(() => this.verifyFiles())
      .catch((err: unknown) => this.opts.log.error({ err }, 'log file check failed unexpectedly'))
      .finally(() => (this.checking = false));
  }

  /** (On the chain, so that the segment does not change under it.) Refuses writes if the files are gone. */
  async verifyFiles(): Promise<void> {
    if (this.opts.health.failure?.missing?.dir) return; // nothing worse to find
    const { dir, dirId, log, segment } = this.opts;
    const file = segment.file();
    let missing: MissingFiles | null;
    try {
      missing = await findMissingFiles(dir, dirId, file, segment.fh());
    } catch (err) {
      this.opts.health.ioErrors++;
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      if (this.checkError !== code) log.warn({ err, dir, file }, 'could not check that the data directory and the log segment are still there');
      this.checkError = code;
      return;
    }
    this.checkError = null;
    if (missing) this.opts.gone(missing);
  }

  /** At close: no more checks on the timer. */
  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }
}
