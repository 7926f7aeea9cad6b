/**
 * The append-only log, written on the main thread with asynchronous file I/O so the
 * event loop never waits on the disk.
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
 *   Reads wait for it too; `everysec` and `no` never block the event loop.
 * - `everysec`: an fdatasync once a second, beside the chain (one at a time).
 * - `no`: never an fdatasync, except at rotation and close.
 *
 * The log also checks, once a second and at each rotation, that the data directory and
 * the open segment are still there (file-check.ts), and under `always` that the segment
 * still has a name before each batch is acknowledged: writes into a deleted file succeed,
 * but never reach a file the next start reads.
 */
import { stat, unlink, type FileHandle } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { FsyncPolicy } from '../config.js';
import type { Mutation } from '../backend/types.js';
import type { KvError } from '../errors.js';
import { AckLedger } from './ack-ledger.js';
import { findMissingFiles, identityOf, isUnlinked, type FileIdentity, type MissingFiles } from './file-check.js';
import { fsyncDir, segmentPath } from './files.js';
import { batchSize, encodeBatch, encodeFileHeader, encodeMutation, FILE_HEADER_SIZE, FileKind, MAX_RECORD_BODY, RECORD_FRAME_SIZE, recordSize } from './formats.js';
import { LogHealth } from './log-health.js';
import type { DurationHistogram } from '../durations.js';
import { defer, realFileOps, segmentFlags, writeAll, type Deferred, type LogFailure, type LogFileOps, writeAllSync } from './log-io.js';

export type { LogFailure, LogFileOps } from './log-io.js';
export { WRITE_RETRY_MS } from './log-health.js';

const INITIAL_BUFFER = 64 * 1024;
/** Buffers up to this size are kept for reuse; a batch that needed more gets a fresh one next time. */
const MAX_RECYCLED = 1024 * 1024;
/** `everysec`: the fdatasync period. */
export const EVERYSEC_MS = 1000;
/** How often the data directory and the open segment are checked (file-check.ts). */
export const FILE_CHECK_MS = 1000;

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
  private buf: Buffer = Buffer.allocUnsafe(INITIAL_BUFFER);
  private readonly spare: Buffer[] = [];
  private bufLen = 0;
  /** Records in `buf`. */
  private bufRecords = 0;
  private batch: Deferred | null = null;
  private writeScheduled = false;
  private chain: Promise<void> = Promise.resolve();
  private unsynced = 0;
  /** The fdatasync in flight, if any; it covers everything written before it started. */
  private syncing: Promise<void> | null = null;
  private readonly health: LogHealth;
  /** Records that could not be written after a failure: written first when the log recovers. */
  private backlog: Buffer[] = [];
  private backlogRecords = 0;
  private syncTimer: NodeJS.Timeout | null = null;
  private checkTimer: NodeJS.Timeout | null = null;
  private checking = false;
  /** The last error the file check met, so that a check failing every second is logged once. */
  private checkError: string | null = null;
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
    private readonly dirId: FileIdentity,
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
    if (opts.policy === 'everysec') {
      this.syncTimer = setInterval(() => this.syncIfDirty(), EVERYSEC_MS);
      this.syncTimer.unref();
    }
    this.checkTimer = setInterval(() => this.checkSoon(), FILE_CHECK_MS);
    this.checkTimer.unref();
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
    return this.size + this.bufLen;
  }

  get failure(): LogFailure | null {
    return this.health.failure;
  }

  /** Failed writes, fsyncs, opens, closes and file checks on the log's files (INFO: aof_write_errors). */
  get ioErrors(): number {
    return this.health.ioErrors;
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
    const need = recordSize(m);
    if (this.bufLen + need > this.buf.length) this.grow(need);
    this.bufLen = encodeMutation(this.buf, this.bufLen, m);
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
    if (this.bufLen + need > this.buf.length) this.grow(need);
    this.bufLen = encodeBatch(this.buf, this.bufLen, ms);
    return this.noteAppended(ms.length);
  }

  /** Counts `n` records just encoded and schedules the batch's write. */
  private noteAppended(n: number): Promise<void> | undefined {
    this.bufRecords += n;
    this.appended += n;
    for (let i = 0; i < n; i++) this.ledger.applied();
    if (!this.writeScheduled) {
      this.writeScheduled = true;
      // setImmediate, not nextTick: every command read in this I/O phase joins the batch.
      setImmediate(() => this.enqueue(() => this.writeBatch()).catch((err: unknown) => this.opts.log.error({ err }, 'log write failed unexpectedly')));
    }
    if (this.opts.policy !== 'always') return undefined;
    this.batch ??= defer();
    return this.batch.promise;
  }

  private grow(need: number): void {
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.bufLen + need));
    this.buf.copy(next, 0, 0, this.bufLen);
    this.buf = next;
  }

  private enqueue(op: () => Promise<void>): Promise<void> {
    const p = this.chain.then(op);
    this.chain = p.catch(() => undefined);
    return p;
  }

  /** Takes the gathered batch: its bytes (a view of `owner`), its record count and its waiters. */
  private takeBatch(): { data: Buffer; owner: Buffer; records: number; batch: Deferred | null } {
    const owner = this.buf;
    const data = owner.subarray(0, this.bufLen);
    const records = this.bufRecords;
    const batch = this.batch;
    this.buf = this.spare.pop() ?? Buffer.allocUnsafe(INITIAL_BUFFER);
    this.bufLen = 0;
    this.bufRecords = 0;
    this.batch = null;
    this.writeScheduled = false;
    return { data, owner, records, batch };
  }

  private toBacklog(data: Buffer, records: number): void {
    this.backlog.push(data);
    this.backlogRecords += records;
  }

  /**
   * A written batch's buffer is used again for a later one: a fresh 64 KiB buffer per
   * batch, thousands of times a second, kept the garbage collector busy.
   */
  private recycle(owner: Buffer): void {
    if (this.spare.length < 2 && owner.length <= MAX_RECYCLED) this.spare.push(owner);
  }

  /** One group commit: write the batch (durable when the write returns, with `always`), then settle its waiters. */
  private async writeBatch(): Promise<void> {
    if (this.bufLen === 0) {
      this.writeScheduled = false;
      return;
    }
    const { data, owner, records, batch } = this.takeBatch();
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
      } else await writeAll(this.fh, data, this.size);
    } catch (err) {
      this.toBacklog(data, records);
      this.fail('write', err, true);
      batch?.reject(this.unacknowledged());
      return;
    }
    this.size += data.length;
    // With `always` the write was O_DSYNC: the batch is durable now, if its file still has a name.
    if (this.opts.policy === 'always' && this.segmentUnlinked()) {
      await this.verifyFiles();
      // The check itself may have failed (EIO): the fstat already showed the segment is gone.
      if (this.health.failure?.op !== 'gone') this.failGone({ dir: false, what: `the log segment ${segmentPath(this.opts.dir, this.seq)} was deleted` });
      batch?.reject(this.unacknowledged());
      return;
    }
    if (this.opts.policy !== 'always') this.unsynced += data.length;
    this.ledger.written(records);
    this.recycle(owner);
    batch?.resolve();
  }

  /** The `always` policy's per-batch check (an fstat); a failing fstat is counted, not fatal. */
  private segmentUnlinked(): boolean {
    try {
      return isUnlinked(this.fh.fd);
    } catch (err) {
      this.health.ioErrors++;
      this.opts.log.warn({ err, file: segmentPath(this.opts.dir, this.seq) }, 'could not fstat the log segment');
      return false;
    }
  }

  /** Starts a file check on the chain, unless one is waiting there already. */
  private checkSoon(): void {
    if (this.checking || this.closed) return;
    this.checking = true;
    this.enqueue(() => this.verifyFiles())
      .catch((err: unknown) => this.opts.log.error({ err }, 'log file check failed unexpectedly'))
      .finally(() => (this.checking = false));
  }

  /** (On the chain, so that the segment does not change under it.) Refuses writes if the files are gone. */
  private async verifyFiles(): Promise<void> {
    if (this.failure?.missing?.dir) return; // nothing worse to find
    const file = segmentPath(this.opts.dir, this.seq);
    let missing: MissingFiles | null;
    try {
      missing = await findMissingFiles(this.opts.dir, this.dirId, file, this.fh);
    } catch (err) {
      this.health.ioErrors++;
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      if (this.checkError !== code) this.opts.log.warn({ err, dir: this.opts.dir, file }, 'could not check that the data directory and the log segment are still there');
      this.checkError = code;
      return;
    }
    this.checkError = null;
    if (missing) this.failGone(missing);
  }

  /** The files went away under us: nothing acknowledged into the segment is on disk any more. */
  private failGone(missing: MissingFiles): void {
    if (!this.health.isNews(missing)) return;
    if (this.failure?.op !== 'gone') this.ledger.segmentLost();
    this.unsynced = 0;
    this.health.gone(missing, segmentPath(this.opts.dir, this.seq), () => this.notOnDisk);
  }

  /** Starts an fdatasync of everything written so far, unless one is running or nothing is unsynced. */
  private kickSync(): void {
    if (this.syncing !== null || this.failure !== null || this.unsynced === 0) return;
    const bytes = this.unsynced;
    const records = this.ledger.awaitingSync;
    const done = this.opts.syncDurations?.start();
    this.syncing = this.fh.datasync().then(
      () => {
        done?.();
        this.unsynced = Math.max(0, this.unsynced - bytes);
        if (this.failure?.op !== 'gone') this.ledger.synced(records);
        this.syncing = null;
      },
      (err: unknown) => {
        this.syncing = null;
        this.fail('fsync', err, false);
      },
    );
  }

  /** Waits until every byte written so far is fdatasynced. */
  private async syncAll(): Promise<void> {
    while (this.syncing !== null) await this.syncing;
    this.kickSync();
    while (this.syncing !== null) await this.syncing;
  }

  private syncIfDirty(): void {
    if (!this.closed) this.kickSync();
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
    this.unsynced = 0;
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
    await this.syncAll();
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
        await this.verifyFiles(); // ENOENT: perhaps the directory went
        throw new Error(`could not start log segment ${segmentPath(this.opts.dir, next)}: ${(err as Error).message}`, { cause: err });
      }
      const old = this.fh;
      closed = { seq: this.seq, size: this.size, appended: this.appended };
      this.fh = fh;
      this.seq = next;
      this.size = FILE_HEADER_SIZE;
      this.unsynced = 0;
      this.ledger.segmentClosed();
      // The old segment was fdatasynced whole above: a failing close loses nothing.
      await old.close().catch((err: unknown) => {
        this.health.ioErrors++;
        this.opts.log.warn({ err, file: segmentPath(this.opts.dir, closed.seq) }, 'could not close a rotated log segment');
      });
      // Before anything is acknowledged into the new segment: is it where the next start will look?
      await this.verifyFiles();
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
    if (this.syncTimer) clearInterval(this.syncTimer);
    if (this.checkTimer) clearInterval(this.checkTimer);
    await this.enqueue(async () => {
      await this.syncAll();
      await this.fh.close();
    }).catch((err: unknown) => {
      this.health.ioErrors++;
      this.opts.log.error({ err }, 'could not close the append-only log');
    });
  }
}

/**
 * Creates segment `seq` with its header, durable along with its directory entry before
 * anything is appended to it. A segment made `exclusive`ly is removed again if that fails.
 */
async function createSegment(ops: LogFileOps, dir: string, seq: number, policy: FsyncPolicy, how: 'create' | 'exclusive'): Promise<FileHandle> {
  const file = segmentPath(dir, seq);
  const fh = await ops.open(file, segmentFlags(how, policy));
  try {
    await writeAll(fh, encodeFileHeader(FileKind.LOG, seq), 0);
    await fh.datasync();
    await fsyncDir(dir);
  } catch (err) {
    await fh.close().catch(() => undefined);
    if (how === 'exclusive') await unlink(file).catch(() => undefined);
    throw err;
  }
  return fh;
}
