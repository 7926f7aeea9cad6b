/**
 * The append-only log, written from the main thread: into the page cache directly, or
 * through the thread pool when a write could keep the event loop waiting on the disk.
 *
 * Group commit: mutations applied during one turn of the event loop are encoded into
 * one buffer and leave in one write. While that write is in flight the next batch
 * gathers, so under load each disk round trip carries many records.
 *
 * Writes, rotation and close run on one promise chain, so records reach the file in
 * the order they were applied and the file is always a prefix of the history (at worst
 * with a torn last write), and batches are acknowledged in order.
 *
 * - `always`: the segment is opened O_DSYNC (see segmentFlags), so a write returns once
 *   its batch is durable, and the batch's waiters are settled then. One system call per
 *   batch instead of a write and an fdatasync: in a smoke run under load this answered
 *   about half again as many SETs as separate write + fdatasync calls. That write is
 *   made on the main thread, once per event-loop turn, as Redis does for
 *   `appendfsync always`: no reply can leave before it anyway, and a trip through the
 *   thread pool and back cost more than the write itself (bench/persistence-throughput).
 *   Reads wait for it too.
 * - `everysec` and `no`: the batch goes into the page cache with a write on the main
 *   thread too, unless that could keep the event loop waiting (an fdatasync or a
 *   snapshot running, a large batch, a slow write just before): then the thread pool
 *   takes it (write-path.ts).
 * - `everysec`: an fdatasync once a second, beside the chain (one at a time; log-sync.ts).
 * - `no`: never an fdatasync, except at rotation and close.
 *
 * The log also checks, once a second and at each rotation, that the data directory and
 * the open segment are still there (file-watch.ts), and under `always` that the segment
 * still has a name before each batch is acknowledged: writes into a deleted file succeed,
 * but never reach a file the next start reads.
 */
import { stat, type FileHandle } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { FsyncPolicy } from '../config.js';
import type { Mutation } from '../backend/types.js';
import type { KvError } from '../errors.js';
import { AckLedger } from './ack-ledger.js';
import { identityOf, type FileIdentity, type MissingFiles } from './file-check.js';
import { FileWatch } from './file-watch.js';
import { segmentPath } from './files.js';
import { batchSize, FILE_HEADER_SIZE, MAX_RECORD_BODY, RECORD_FRAME_SIZE } from './formats.js';
import { LogBatch } from './log-batch.js';
import { LogHealth } from './log-health.js';
import { LogSync } from './log-sync.js';
import { POOL_SPELL_MS, WritePath } from './write-path.js';
import type { DurationHistogram } from '../durations.js';
import { createSegment, realFileOps, segmentFlags, writeAll, type CurrentSegment, type LogFailure, type LogFileOps, writeAllSync } from './log-io.js';

export type { LogFailure, LogFileOps } from './log-io.js';
export { WRITE_RETRY_MS } from './log-health.js';
export { EVERYSEC_MS } from './log-sync.js';
export { FILE_CHECK_MS } from './file-watch.js';

export interface AppendLogOptions {
  readonly dir: string;
  readonly policy: FsyncPolicy;
  readonly log: Logger;
  readonly fileOps?: LogFileOps;
  /** Called when writing fails and when it recovers. */
  readonly onFailureChange?: (failure: LogFailure | null) => void;
  /** Times each operation that makes the log durable: an fdatasync, or under `always` an O_DSYNC write. */
  readonly syncDurations?: DurationHistogram;
}

export class AppendLog {
  private fh: FileHandle;
  private seq: number;
  /** Bytes of the current segment known to be in the file (header included). */
  private size: number;
  private readonly gathering = new LogBatch();
  private writeScheduled = false;
  private chain: Promise<void> = Promise.resolve();
  private readonly health: LogHealth;
  private readonly sync: LogSync;
  private readonly watch: FileWatch;
  /** `everysec` and `no`: each batch's write on the main thread, or in the thread pool. */
  private readonly path = new WritePath();
  /** Records that could not be written after a failure: written first when the log recovers. */
  private backlog: Buffer[] = [];
  private backlogRecords = 0;
  private closed = false;
  private readonly ops: LogFileOps;
  private readonly ledger: AckLedger;
  /** Mutations appended since the log was opened. */
  appended = 0;

  private constructor(
    private readonly opts: AppendLogOptions,
    fh: FileHandle,
    seq: number,
    size: number,
    dirId: FileIdentity,
  ) {
    this.ops = opts.fileOps ?? realFileOps;
    this.ledger = new AckLedger(opts.policy !== 'always');
    this.health = new LogHealth({
      dir: opts.dir,
      log: opts.log,
      onFailureChange: opts.onFailureChange,
      retry: () => void this.enqueue(() => this.retryBacklog()).catch((err: unknown) => this.opts.log.error({ err }, 'log retry failed unexpectedly')),
      rescuePath: () => `/proc/${process.pid}/fd/${this.fh.fd}`,
    });
    this.fh = fh;
    this.seq = seq;
    this.size = size;
    const segment: CurrentSegment = { fh: () => this.fh, file: () => segmentPath(this.opts.dir, this.seq) };
    this.sync = new LogSync({ policy: opts.policy, ledger: this.ledger, health: this.health, segment, syncDurations: opts.syncDurations });
    this.watch = new FileWatch({
      dir: opts.dir,
      dirId,
      log: opts.log,
      health: this.health,
      segment,
      enqueue: (op) => this.enqueue(op),
      gone: (missing) => this.failGone(missing),
    });
  }

  /**
   * Opens segment `seq` for appending at `size` (the end of its last good record).
   * A segment shorter than its header (a crash while it was being created) is rewritten.
   */
  static async open(opts: AppendLogOptions, seq: number, size: number): Promise<AppendLog> {
    const ops = opts.fileOps ?? realFileOps;
    let fh: FileHandle;
    if (size < FILE_HEADER_SIZE) {
      fh = await createSegment(ops, opts.dir, seq, opts.policy, 'create');
      size = FILE_HEADER_SIZE;
    } else {
      fh = await ops.open(segmentPath(opts.dir, seq), segmentFlags('append', opts.policy));
    }
    return new AppendLog(opts, fh, seq, size, identityOf(await stat(opts.dir)));
  }

  get segment(): number {
    return this.seq;
  }

  /** Bytes in the current segment, header included, written or waiting to be. */
  get currentSize(): number {
    return this.size + this.gathering.length;
  }

  get failure(): LogFailure | null {
    return this.health.failure;
  }

  /** Failed writes, fsyncs, opens, closes and file checks on the log's files (INFO: aof_write_errors). */
  get ioErrors(): number {
    return this.health.ioErrors;
  }

  /** Writes made on the main thread that kept it waiting, each sending the next ones to the thread pool (INFO: aof_slow_writes). */
  get slowWrites(): number {
    return this.path.slowWrites;
  }

  /**
   * A snapshot is being written beside the log (on), or is done (off): meanwhile every
   * write goes through the thread pool (write-path.ts).
   */
  set snapshotting(on: boolean) {
    this.path.diskBusy = on;
  }

  get policy(): FsyncPolicy {
    return this.opts.policy;
  }

  /**
   * Acknowledged records that are not on disk: under everysec/no those not yet written
   * or fdatasynced, and under any policy those whose files were deleted (all of them,
   * when the whole data directory went).
   */
  get notOnDisk(): number {
    return this.ledger.notOnDisk(this.failure?.missing?.dir === true);
  }

  /**
   * Encodes a mutation into the current batch. With `always`, returns the batch's
   * promise: it settles after the batch is written and fdatasynced (and rejects if
   * that fails). Otherwise returns undefined: the reply need not wait.
   */
  append(m: Mutation): Promise<void> | undefined {
    this.gathering.add(m);
    return this.noteAppended(1);
  }

  /**
   * Encodes mutations that must be applied together or not at all (a transaction) as one
   * BATCH record, so that a crash in the middle of writing it leaves one torn record,
   * which recovery drops whole. As append() otherwise.
   */
  appendBatch(ms: readonly Mutation[]): Promise<void> | undefined {
    const need = batchSize(ms);
    if (need - RECORD_FRAME_SIZE > MAX_RECORD_BODY) {
      // Past what a reader takes for one record (values are at most 512 MiB, so only a
      // transaction of several huge values gets here): one record each, in order.
      this.opts.log.warn({ records: ms.length, bytes: need }, 'transaction too large for one log record: logged record by record, so a crash while writing it may keep part of it');
      let last: Promise<void> | undefined;
      for (const m of ms) last = this.append(m) ?? last;
      return last;
    }
    this.gathering.addAll(ms, need);
    return this.noteAppended(ms.length);
  }

  /** Counts `n` records just encoded and schedules the batch's write. */
  private noteAppended(n: number): Promise<void> | undefined {
    this.appended += n;
    for (let i = 0; i < n; i++) this.ledger.applied();
    if (!this.writeScheduled) {
      this.writeScheduled = true;
      // setImmediate, not nextTick: every command read in this I/O phase joins the batch.
      setImmediate(() => this.enqueue(() => this.writeBatch()).catch((err: unknown) => this.opts.log.error({ err }, 'log write failed unexpectedly')));
    }
    if (this.opts.policy !== 'always') return undefined;
    return this.gathering.durable();
  }

  private enqueue(op: () => Promise<void>): Promise<void> {
    const p = this.chain.then(op);
    this.chain = p.catch(() => undefined);
    return p;
  }

  private toBacklog(data: Buffer, records: number): void {
    this.backlog.push(data);
    this.backlogRecords += records;
  }

  /** One group commit: write the batch (durable when the write returns, with `always`), then settle its waiters. */
  private async writeBatch(): Promise<void> {
    if (this.gathering.length === 0) {
      this.writeScheduled = false;
      return;
    }
    const { data, owner, records, waiters: batch } = this.gathering.take();
    this.writeScheduled = false;
    if (this.failure !== null) {
      this.toBacklog(data, records);
      batch?.reject(this.unacknowledged());
      return;
    }
    try {
      if (this.opts.policy === 'always') {
        const done = this.opts.syncDurations?.start();
        writeAllSync(this.ops, this.fh, data, this.size);
        done?.();
      } else if (this.path.direct(data.length, this.sync.inFlight)) {
        const started = performance.now();
        writeAllSync(this.ops, this.fh, data, this.size);
        const took = performance.now() - started;
        if (this.path.took(took)) {
          this.opts.log.warn(
            { tookMs: Math.round(took), bytes: data.length, poolSeconds: POOL_SPELL_MS / 1000 },
            'a write of the append-only log kept the event loop waiting (the disk is slow to take writes): the next writes go through the thread pool for a while',
          );
        }
      } else await writeAll(this.fh, data, this.size);
    } catch (err) {
      this.toBacklog(data, records);
      this.fail('write', err, true);
      batch?.reject(this.unacknowledged());
      return;
    }
    this.size += data.length;
    // With `always` the write was O_DSYNC: the batch is durable now, if its file still has a name.
    if (this.opts.policy === 'always' && this.watch.segmentUnlinked()) {
      await this.watch.verifyFiles();
      // The check itself may have failed (EIO): the fstat already showed the segment is gone.
      if (this.health.failure?.op !== 'gone') this.failGone({ dir: false, what: `the log segment ${segmentPath(this.opts.dir, this.seq)} was deleted` });
      batch?.reject(this.unacknowledged());
      return;
    }
    if (this.opts.policy !== 'always') this.sync.wrote(data.length);
    this.ledger.written(records);
    this.gathering.recycle(owner);
    batch?.resolve();
  }

  /** The files went away under us: nothing acknowledged into the segment is on disk any more. */
  private failGone(missing: MissingFiles): void {
    if (!this.health.isNews(missing)) return;
    if (this.failure?.op !== 'gone') this.ledger.segmentLost();
    this.sync.forget();
    this.health.gone(missing, segmentPath(this.opts.dir, this.seq), () => this.notOnDisk);
  }

  private fail(op: 'write' | 'fsync', err: unknown, retryable: boolean): void {
    this.health.failed(op, err, segmentPath(this.opts.dir, this.seq), retryable);
  }

  /**
   * After a failed write: cut whatever part of it reached the file, write the records
   * that were refused (they are applied in memory, so the file must catch up), fdatasync,
   * and accept writes again.
   */
  private async retryBacklog(): Promise<void> {
    if (this.failure === null || !this.failure.retryable || this.closed) return;
    const data = this.backlog.length === 1 ? (this.backlog[0] as Buffer) : Buffer.concat(this.backlog);
    try {
      await this.fh.truncate(this.size);
      await writeAll(this.fh, data, this.size);
    } catch (err) {
      this.health.ioErrors++;
      this.opts.log.debug({ err }, 'append-only log still cannot be written');
      return;
    }
    try {
      const done = this.opts.syncDurations?.start();
      await this.fh.datasync();
      done?.();
    } catch (err) {
      this.fail('fsync', err, false);
      return;
    }
    this.size += data.length;
    this.sync.forget();
    this.ledger.backlogWritten(this.backlogRecords);
    this.ledger.synced(Infinity);
    this.backlog = [];
    this.backlogRecords = 0;
    this.health.recovered(data.length);
  }

  /**
   * After a failed write, tries once more now instead of at the next retry tick (at
   * shutdown: the disk may have room by then, and under everysec/no what the log holds
   * back was acknowledged).
   */
  async retryNow(): Promise<void> {
    if (this.failure?.retryable) await this.enqueue(() => this.retryBacklog()).catch(() => undefined);
  }

  /** The error every write is refused with while the log is failing (RESP: -MISCONF, as Redis). */
  refusal(): KvError {
    return this.health.refusal();
  }

  /** What failed and what to do, for MISCONF and for a SAVE that cannot run. */
  refusalReason(): string {
    return this.health.refusalReason();
  }

  private unacknowledged(): KvError {
    return this.health.unacknowledged();
  }

  /** Writes everything gathered so far and fdatasyncs it, whatever the policy. */
  flushAndSync(): Promise<void> {
    return this.enqueue(() => this.flushAndSyncNow());
  }

  /** (On the chain.) Writes the gathered batch and waits until everything written is fdatasynced. */
  private async flushAndSyncNow(): Promise<void> {
    await this.writeBatch();
    await this.sync.all();
    if (this.failure) throw this.refusal();
  }

  /**
   * Closes the current segment (flushed and fdatasynced) and starts segment n+1, so a
   * snapshot can fold segments ≤ n while writes go on. Returns n, its final size, and
   * the count of mutations appended up to the switch.
   * The new segment's directory entry is fsynced before any record in it is acknowledged.
   */
  rotate(): Promise<{ seq: number; size: number; appended: number }> {
    let closed = { seq: 0, size: 0, appended: 0 };
    return this.enqueue(async () => {
      await this.flushAndSyncNow();
      const next = this.seq + 1;
      let fh: FileHandle;
      try {
        fh = await createSegment(this.ops, this.opts.dir, next, this.opts.policy, 'exclusive');
      } catch (err) {
        // The old segment stays current; the snapshot fails and is tried again later.
        this.health.ioErrors++;
        await this.watch.verifyFiles(); // ENOENT: perhaps the directory went
        throw new Error(`could not start log segment ${segmentPath(this.opts.dir, next)}: ${(err as Error).message}`, { cause: err });
      }
      const old = this.fh;
      closed = { seq: this.seq, size: this.size, appended: this.appended };
      this.fh = fh;
      this.seq = next;
      this.size = FILE_HEADER_SIZE;
      this.sync.forget();
      this.ledger.segmentClosed();
      // The old segment was fdatasynced whole above: a failing close loses nothing.
      await old.close().catch((err: unknown) => {
        this.health.ioErrors++;
        this.opts.log.warn({ err, file: segmentPath(this.opts.dir, closed.seq) }, 'could not close a rotated log segment');
      });
      // Before anything is acknowledged into the new segment: is it where the next start will look?
      await this.watch.verifyFiles();
    }).then(() => closed);
  }

  /**
   * Flushes, fdatasyncs and closes. Never rejects: what could not be made durable is
   * logged and stays counted in notOnDisk.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.retryNow();
    const known = this.failure;
    try {
      await this.flushAndSync();
    } catch (err) {
      // A failure already logged and refusing writes needs no second line.
      if (known === null) this.opts.log.error({ err, writesNotOnDisk: this.notOnDisk }, 'append-only log could not be flushed at close');
    }
    this.closed = true;
    this.health.stop();
    this.sync.stop();
    this.watch.stop();
    await this.enqueue(async () => {
      await this.sync.all();
      await this.fh.close();
    }).catch((err: unknown) => {
      this.health.ioErrors++;
      this.opts.log.error({ err }, 'could not close the append-only log');
    });
  }
}
