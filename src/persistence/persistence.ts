/**
 * Persistence as the server sees it: a Service (recovery at start; flush and a final
 * snapshot at stop) and the store's MutationSink (every applied mutation goes to the
 * append-only log).
 *
 * A snapshot, whether from the timer, SAVE, a growing log or shutdown, is: rotate the
 * log (writes go on into a new segment), let the worker fold the previous snapshot and
 * the closed segments into a new snapshot, then delete what it replaced. The main
 * thread never walks the store.
 *
 * At stop, durability comes first: the log is flushed and fdatasynced before the final
 * snapshot starts, so a snapshot that fails or runs out of time loses nothing.
 */
import { unlink } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { FsyncPolicy } from '../config.js';
import { KvError } from '../errors.js';
import { errorReply, OK, type Reply } from '../protocol/reply.js';
import type { ServerStats, StatSection } from '../stats.js';
import type { FinalSnapshot, StopOptions } from '../stop-options.js';
import { memorySink, type DurableStore, type Mutation, type MutationSink } from '../backend/types.js';
import { AppendLog, type LogFileOps, type LogFailure } from './append-log.js';
import { describeFailure } from './log-io.js';
import { fsyncDir, segmentPath, snapshotPath } from './files.js';
import { FILE_HEADER_SIZE } from './formats.js';
import { acquireDataDirLock, type DataDirLock } from './lock.js';
import { recoverDataDir, type RecoveryResult } from './recovery.js';
import type { SnapshotJob, SnapshotResult } from './snapshot-build.js';
import { runSnapshotWorker } from './snapshot-runner.js';
import { SnapshotHistory } from './snapshot-history.js';
import { DurationHistogram, SYNC_BUCKETS_S } from '../durations.js';

const CRON_MS = 1000;

export interface PersistenceOptions {
  readonly dir: string;
  readonly fsync: FsyncPolicy;
  readonly snapshotIntervalSec: number;
  readonly repair: boolean;
  /** Tests only: wraps the log's file operations to inject failures. */
  readonly fileOps?: LogFileOps;
}

/** How a stop went, for the exit code (src/main.ts) and the last log lines. */
export interface PersistenceStopReport {
  /** Acknowledged writes that are not on disk (see AppendLog.notOnDisk). */
  readonly writesNotOnDisk: number;
  /** False when the final snapshot was due but not written. */
  readonly snapshotWritten: boolean;
  /** What went wrong, or null after a clean stop. */
  readonly problem: string | null;
}

const CLEAN_STOP: PersistenceStopReport = { writesNotOnDisk: 0, snapshotWritten: true, problem: null };

/** Resolves with `p`'s outcome, or with 'timeout' once `signal` aborts. */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T | 'timeout'> {
  if (signal.aborted) return Promise.resolve('timeout');
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve('timeout');
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

export class Persistence implements MutationSink {
  readonly name = 'persistence';
  private lock: DataDirLock | null = null;
  private log: AppendLog | null = null;
  private base: number | null = null;
  /** Segments closed by rotation and not yet folded into a snapshot, with their sizes. */
  private closed = new Map<number, number>();
  private running: Promise<SnapshotResult | null> | null = null;
  private next: Promise<SnapshotResult | null> | null = null;
  private runningSince = 0;
  private cron: NodeJS.Timeout | null = null;
  private appendedAtSnapshot = 0;
  private readonly snapshots = new SnapshotHistory();
  private lastError = '';
  private recovery: RecoveryResult | null = null;
  private loadedKeys = 0;
  private stopping: Promise<PersistenceStopReport> | null = null;
  /** Aborted at stop's deadline: a snapshot still running then is abandoned. */
  private readonly deadline = new AbortController();
  /** Aborts the snapshot running now (stop replaces a paced one with one at full speed). */
  private current: AbortController | null = null;
  private readonly syncDurations = new DurationHistogram(SYNC_BUCKETS_S);

  constructor(
    private readonly opts: PersistenceOptions,
    private readonly store: DurableStore,
    stats: ServerStats,
    private readonly logger: Logger,
  ) {
    stats.registerSection('persistence', () => this.statSection());
    stats.registerDurations('log_sync', this.syncDurations);
    stats.registerDurations('snapshot', this.snapshots.durations);
  }

  /** Takes the lock, loads the snapshot and the log, and starts recording. Before the listeners open. */
  async start(): Promise<void> {
    const { dir } = this.opts;
    this.lock = acquireDataDirLock(dir);
    if (this.lock.tookOverFrom) {
      this.logger.warn({ lock: this.lock.file, previous: this.lock.tookOverFrom }, 'took over a stale lock: its server is no longer running');
    }
    try {
      const r = recoverDataDir({ dir, repair: this.opts.repair, log: this.logger, store: this.store });
      this.recovery = r;
      this.loadedKeys = this.store.size;
      this.base = r.snapshot;
      const last = r.segments.at(-1) as number;
      for (const seq of r.segments.slice(0, -1)) this.closed.set(seq, r.segmentSizes.get(seq) ?? 0);
      this.log = await AppendLog.open(
        {
          dir,
          policy: this.opts.fsync,
          log: this.logger,
          fileOps: this.opts.fileOps,
          onFailureChange: (f) => this.onLogFailure(f),
          syncDurations: this.syncDurations,
        },
        last,
        r.segmentSizes.get(last) ?? 0,
      );
      this.logger.info(
        {
          keys: this.store.size,
          snapshot: r.snapshot === null ? null : snapshotPath(dir, r.snapshot),
          snapshotKeys: r.snapshotKeys,
          expiredAtLoad: r.expiredAtLoad,
          revision: r.revision,
          logSegments: r.segments.length,
          logRecords: r.logRecords,
          tornBytes: r.tornBytes,
          ms: Math.round(r.ms),
          fsync: this.opts.fsync,
        },
        'data loaded',
      );
    } catch (err) {
      this.lock.release();
      this.lock = null;
      throw err;
    }
    this.store.setSink(this);
    this.snapshots.attempted();
    this.cron = setInterval(() => this.tick(), CRON_MS);
    this.cron.unref();
    // Replace repaired files with a clean snapshot soon, rather than at the next interval.
    if (this.recovery.repaired) void this.requestSnapshot('repair').catch(() => undefined);
  }

  /**
   * Flushes and fsyncs the log, writes a final snapshot as `options` say (src/stop-options.ts),
   * closes and unlocks, all by `deadline` (ms since the epoch). Never rejects: the report
   * says what did not work. Safe to call twice: the first call's options hold.
   */
  stop(deadline: number, options: StopOptions = {}): Promise<PersistenceStopReport> {
    this.stopping ??= this.stopNow(deadline, options.finalSnapshot ?? 'default');
    return this.stopping;
  }

  private async stopNow(deadline: number, finalSnapshot: FinalSnapshot): Promise<PersistenceStopReport> {
    if (this.cron) clearInterval(this.cron);
    const log = this.log;
    if (log === null) return CLEAN_STOP;
    const signal = this.deadline.signal;
    // Ref'd on purpose: it keeps the process alive until the stop is done or its time is up.
    const timer = setTimeout(() => this.deadline.abort('the shutdown deadline (--shutdown-timeout) passed'), Math.max(0, deadline - Date.now()));
    const late = (what: string) => `${what} did not finish within --shutdown-timeout`;
    let problem: string | null = null;
    let snapshotWritten = false;
    try {
      // A log that failed to write gets one more try first: the disk may have room by now.
      if ((await untilAborted(log.retryNow(), signal)) === 'timeout') return this.report(log, false, late('writing the append-only log'));
      if (log.failure === null) {
        const flushed = await untilAborted(log.flushAndSync().then(() => null, (err: unknown) => err as Error), signal);
        if (flushed === 'timeout') return this.report(log, false, late('the final flush of the append-only log'));
        if (flushed !== null) problem = `the final flush of the append-only log failed: ${flushed.message}`;
      }
      if (finalSnapshot === 'skip') {
        // SHUTDOWN NOSAVE: the flushed log holds every write and the next start replays it.
        // A snapshot running now is stopped, and waited for so that its worker is gone before the close.
        this.current?.abort('SHUTDOWN NOSAVE: no final snapshot');
        await (this.next ?? this.running)?.catch(() => undefined);
      } else if (log.failure !== null) {
        problem ??= `no final snapshot: ${describeFailure(log.failure)}`;
      } else {
        try {
          // A snapshot running now yields the CPU to clients; there are none left, and its
          // segments are folded by the final one, so it is stopped rather than waited for.
          this.current?.abort('replaced by the final snapshot');
          await this.requestSnapshot(finalSnapshot === 'force' ? 'SHUTDOWN SAVE' : 'shutdown', finalSnapshot === 'force');
          snapshotWritten = true;
        } catch (err) {
          problem = `the final snapshot failed: ${(err as Error).message}`;
        }
      }
      // Everything is flushed by now, so this is quick; a disk that hangs here is main.ts's backstop's to deal with.
      await log.close();
    } finally {
      clearTimeout(timer);
    }
    this.store.setSink(memorySink);
    this.lock?.release();
    this.lock = null;
    return this.report(log, snapshotWritten, problem);
  }

  /** Acknowledged writes not on disk right now. */
  get writesNotOnDisk(): number {
    return this.log?.notOnDisk ?? 0;
  }

  /** Logs the outcome of a stop that went wrong, with the count an operator needs first. */
  private report(log: AppendLog, snapshotWritten: boolean, problem: string | null): PersistenceStopReport {
    const writesNotOnDisk = log.notOnDisk;
    if (problem === null && writesNotOnDisk === 0) return CLEAN_STOP;
    if (writesNotOnDisk > 0) {
      problem ??= 'the append-only log could not make them durable';
      this.logger.error({ writesNotOnDisk, reason: problem, keys: this.store.size }, 'shutdown: acknowledged writes are not on disk');
    } else {
      this.logger.error({ writesNotOnDisk, reason: problem }, 'shutdown: no final snapshot, but the log holds every acknowledged write');
    }
    return { writesNotOnDisk, snapshotWritten, problem };
  }

  writeBlocker(): KvError | null {
    return this.log?.failure ? this.log.refusal() : null;
  }

  record(mutation: Mutation): Promise<void> | undefined {
    return (this.log as AppendLog).append(mutation);
  }

  recordAll(mutations: readonly Mutation[]): Promise<void> | undefined {
    return (this.log as AppendLog).appendBatch(mutations);
  }

  /** SAVE/BGSAVE: replies once every write before it is in a snapshot on disk. */
  async save(): Promise<Reply> {
    try {
      await this.requestSnapshot('SAVE');
      return OK;
    } catch (err) {
      if (err instanceof KvError) return errorReply(err);
      return errorReply(
        new KvError('SNAPSHOT_FAILED', `snapshot failed: ${(err as Error).message}; the log still holds every write, see the server log`, { cause: err }),
      );
    }
  }

  private onLogFailure(failure: LogFailure | null): void {
    if (failure) this.lastError = `${failure.op}: ${failure.err.message}`;
  }

  /** Changes since the last snapshot began, i.e. not yet in one. */
  private get changes(): number {
    return (this.log?.appended ?? 0) - this.appendedAtSnapshot;
  }

  private logBytes(): number {
    let n = this.log?.currentSize ?? 0;
    for (const size of this.closed.values()) n += size;
    return n;
  }

  private tick(): void {
    if (this.running || this.stopping !== null || this.log === null || this.log.failure) return;
    const reason = this.snapshots.due({
      now: Date.now(),
      intervalMs: this.opts.snapshotIntervalSec * 1000,
      unsaved: this.closed.size > 0 || this.log.currentSize > FILE_HEADER_SIZE,
      closedSegments: this.closed.size > 0,
      logBytes: this.logBytes(),
    });
    if (reason !== null) void this.requestSnapshot(reason).catch(() => undefined);
  }

  /**
   * Starts a snapshot, or joins the queue: a request while one runs gets the next one,
   * shared by every request that arrives meanwhile, so each caller's writes are in it.
   * Resolves with null when there was nothing new to fold, unless `force` (SHUTDOWN SAVE):
   * then the log is rotated even when empty, so that a new snapshot is written all the same.
   */
  requestSnapshot(reason: string, force = false): Promise<SnapshotResult | null> {
    if (this.next) return force ? this.next.then((r) => r ?? this.requestSnapshot(reason, true)) : this.next;
    if (this.running) {
      this.next = this.running
        .catch(() => undefined)
        .then(() => {
          this.next = null;
          return this.runSnapshot(reason, force);
        });
      return this.next;
    }
    return this.runSnapshot(reason, force);
  }

  private runSnapshot(reason: string, force: boolean): Promise<SnapshotResult | null> {
    const log = this.log;
    if (log) log.snapshotting = true;
    const p = this.snapshotOnce(reason, force).finally(() => {
      if (log) log.snapshotting = false;
      if (this.running === p) this.running = null;
    });
    this.running = p;
    return p;
  }

  private async snapshotOnce(reason: string, force: boolean): Promise<SnapshotResult | null> {
    const log = this.log;
    if (log === null) throw new KvError('SNAPSHOT_FAILED', 'persistence has not started');
    if (log.failure) throw new KvError('SNAPSHOT_FAILED', `cannot snapshot while the append-only log is failing: ${log.refusalReason()}`);
    const empty = this.changes === 0 && this.closed.size === 0 && log.currentSize <= FILE_HEADER_SIZE;
    if (empty && !force) return null; // nothing new to fold
    this.snapshots.attempted();
    this.runningSince = Date.now();
    let appendedAtRotation: number;
    let seq: number;
    // Forced with nothing to fold, the empty segment is closed too: the new snapshot then has a sequence of its own.
    if (log.currentSize <= FILE_HEADER_SIZE && !(force && this.closed.size === 0)) {
      // Nothing in the current segment: fold the closed ones and keep appending where we are.
      appendedAtRotation = log.appended;
      seq = log.segment;
    } else {
      try {
        const closed = await log.rotate();
        appendedAtRotation = closed.appended;
        this.closed.set(closed.seq, closed.size);
        seq = closed.seq + 1;
      } catch (err) {
        this.noteSnapshotFailure(err, reason);
        throw err;
      }
    }
    const job: SnapshotJob = {
      dir: this.opts.dir,
      base: this.base,
      segments: [...this.closed.keys()].sort((a, b) => a - b),
      seq,
      urgent: this.stopping !== null,
    };
    this.logger.info({ reason, base: job.base, segments: job.segments, seq: job.seq }, 'snapshot started');
    let result: SnapshotResult;
    const current = new AbortController();
    this.current = current;
    try {
      result = await runSnapshotWorker(job, AbortSignal.any([this.deadline.signal, current.signal]));
    } catch (err) {
      if (current.signal.aborted) this.logger.info({ reason, why: String(current.signal.reason) }, 'snapshot stopped');
      else this.noteSnapshotFailure(err, reason);
      throw err;
    } finally {
      if (this.current === current) this.current = null;
    }
    // The new snapshot is renamed into place and its directory fsynced: what it replaces can go.
    const obsolete = job.segments.map((s) => segmentPath(this.opts.dir, s));
    if (job.base !== null) obsolete.push(snapshotPath(this.opts.dir, job.base));
    await Promise.all(obsolete.map((f) => unlink(f).catch((err: unknown) => this.logger.warn({ err, file: f }, 'could not delete an obsolete file'))));
    await fsyncDir(this.opts.dir).catch(() => undefined);
    for (const s of job.segments) this.closed.delete(s);
    this.base = result.seq;
    this.appendedAtSnapshot = appendedAtRotation;
    this.snapshots.succeeded(result);
    this.logger.info(
      { reason, file: result.file, keys: result.keys, bytes: result.bytes, ms: Math.round(result.ms), totalMs: Date.now() - this.runningSince },
      'snapshot written',
    );
    return result;
  }

  private noteSnapshotFailure(err: unknown, reason: string): void {
    this.snapshots.failed(err);
    this.lastError = `snapshot: ${(err as Error).message}`;
    this.logger.error({ err, reason }, 'snapshot failed; the log still holds every write, and the snapshot is tried again later');
  }

  private statSection(): StatSection {
    const log = this.log;
    const r = this.recovery;
    return {
      loading: 0,
      async_loading: 0,
      aof_enabled: 1,
      fsync_policy: this.opts.fsync,
      aof_current_size: this.logBytes(),
      aof_segments: this.closed.size + (log ? 1 : 0),
      aof_last_write_status: log?.failure ? 'err' : 'ok',
      writes_refused: log?.failure ? 1 : 0,
      // `missing`: the data directory or the open segment was deleted or replaced (file-check.ts).
      data_dir_status: log?.failure?.op === 'gone' ? 'missing' : 'ok',
      aof_write_errors: log?.ioErrors ?? 0,
      aof_slow_writes: log?.slowWrites ?? 0,
      aof_syncs: this.syncDurations.count,
      aof_sync_usec: Math.round(this.syncDurations.sum * 1e6),
      writes_not_on_disk: log?.notOnDisk ?? 0,
      ...this.snapshots.info(this.changes, this.running ? this.runningSince : null),
      rdb_last_load_keys_loaded: this.loadedKeys,
      load_log_records: r?.logRecords ?? 0,
      load_ms: r ? Math.round(r.ms) : 0,
      load_torn_bytes_cut: r?.tornBytes ?? 0,
      last_error: this.lastError,
    };
  }
}
