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
 */
import { unlink, type FileHandle } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { FsyncPolicy } from '../config.js';
import { KvError } from '../errors.js';
import type { Mutation } from '../store/store.js';
import { fsyncDir, segmentPath } from './files.js';
import { encodeFileHeader, encodeMutation, FILE_HEADER_SIZE, FileKind, recordSize } from './formats.js';
import { defer, describeFailure, realFileOps, segmentFlags, writeAll, type Deferred, type LogFailure, type LogFileOps, writeAllSync } from './log-io.js';

export type { LogFailure, LogFileOps } from './log-io.js';

const INITIAL_BUFFER = 64 * 1024;
/** Buffers up to this size are kept for reuse; a batch that needed more gets a fresh one next time. */
const MAX_RECYCLED = 1024 * 1024;
/** How often a failed write is tried again (after truncating what it left behind). */
export const WRITE_RETRY_MS = 1000;
/** `everysec`: the fdatasync period. */
export const EVERYSEC_MS = 1000;


export interface AppendLogOptions {
  readonly dir: string;
  readonly policy: FsyncPolicy;
  readonly log: Logger;
  readonly fileOps?: LogFileOps;
  /** Called when writing fails and when it recovers. */
  readonly onFailureChange?: (failure: LogFailure | null) => void;
}

export class AppendLog {
  private fh: FileHandle;
  private seq: number;
  /** Bytes of the current segment known to be in the file (header included). */
  private size: number;
  private buf: Buffer = Buffer.allocUnsafe(INITIAL_BUFFER);
  private readonly spare: Buffer[] = [];
  private bufLen = 0;
  private batch: Deferred | null = null;
  private writeScheduled = false;
  private chain: Promise<void> = Promise.resolve();
  private unsynced = 0;
  /** The fdatasync in flight, if any; it covers everything written before it started. */
  private syncing: Promise<void> | null = null;
  private failure_: LogFailure | null = null;
  /** Records that could not be written after a failure: written first when the log recovers. */
  private backlog: Buffer[] = [];
  private retryTimer: NodeJS.Timeout | null = null;
  private syncTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly ops: LogFileOps;
  /** Mutations appended since the log was opened. */
  appended = 0;

  private constructor(
    private readonly opts: AppendLogOptions,
    fh: FileHandle,
    seq: number,
    size: number,
  ) {
    this.ops = opts.fileOps ?? realFileOps;
    this.fh = fh;
    this.seq = seq;
    this.size = size;
    if (opts.policy === 'everysec') {
      this.syncTimer = setInterval(() => this.syncIfDirty(), EVERYSEC_MS);
      this.syncTimer.unref();
    }
  }

  /**
   * Opens segment `seq` for appending at `size` (the end of its last good record).
   * A segment shorter than its header (a crash while it was being created) is rewritten.
   */
  static async open(opts: AppendLogOptions, seq: number, size: number): Promise<AppendLog> {
    const ops = opts.fileOps ?? realFileOps;
    const file = segmentPath(opts.dir, seq);
    let fh: FileHandle;
    if (size < FILE_HEADER_SIZE) {
      fh = await ops.open(file, segmentFlags('create', opts.policy));
      await writeAll(fh, encodeFileHeader(FileKind.LOG, seq), 0);
      await fh.datasync();
      await fsyncDir(opts.dir);
      size = FILE_HEADER_SIZE;
    } else {
      fh = await ops.open(file, segmentFlags('append', opts.policy));
    }
    return new AppendLog(opts, fh, seq, size);
  }

  get segment(): number {
    return this.seq;
  }

  /** Bytes in the current segment, header included, written or waiting to be. */
  get currentSize(): number {
    return this.size + this.bufLen;
  }

  get failure(): LogFailure | null {
    return this.failure_;
  }

  get policy(): FsyncPolicy {
    return this.opts.policy;
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
    this.appended++;
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

  /** Takes the gathered batch: its bytes (a view of `owner`) and its waiters. */
  private takeBatch(): { data: Buffer; owner: Buffer; batch: Deferred | null } {
    const owner = this.buf;
    const data = owner.subarray(0, this.bufLen);
    const batch = this.batch;
    this.buf = this.spare.pop() ?? Buffer.allocUnsafe(INITIAL_BUFFER);
    this.bufLen = 0;
    this.batch = null;
    this.writeScheduled = false;
    return { data, owner, batch };
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
    const { data, owner, batch } = this.takeBatch();
    if (this.failure_ !== null) {
      this.backlog.push(data);
      batch?.reject(this.unacknowledged());
      return;
    }
    try {
      if (this.opts.policy === 'always') writeAllSync(this.ops, this.fh, data, this.size);
      else await writeAll(this.fh, data, this.size);
    } catch (err) {
      this.backlog.push(data);
      this.fail('write', err, true);
      batch?.reject(this.unacknowledged());
      return;
    }
    this.size += data.length;
    // With `always` the write was O_DSYNC: the batch is durable now.
    if (this.opts.policy !== 'always') this.unsynced += data.length;
    this.recycle(owner);
    batch?.resolve();
  }

  /** Starts an fdatasync of everything written so far, unless one is running or nothing is unsynced. */
  private kickSync(): void {
    if (this.syncing !== null || this.failure_ !== null || this.unsynced === 0) return;
    const bytes = this.unsynced;
    this.syncing = this.fh.datasync().then(
      () => {
        this.unsynced -= bytes;
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

  private fail(op: LogFailure['op'], err: unknown, retryable: boolean): void {
    const failure: LogFailure = {
      op,
      err: err as NodeJS.ErrnoException,
      file: segmentPath(this.opts.dir, this.seq),
      at: new Date(),
      retryable,
    };
    const changed = this.failure_ === null || this.failure_.op !== op;
    this.failure_ = failure;
    if (!changed) return;
    this.opts.log.error(
      { err, op, file: failure.file, retryable },
      retryable
        ? 'append-only log write failed; refusing writes until it can be written again'
        : 'append-only log fsync failed; refusing writes until the server is restarted',
    );
    this.opts.onFailureChange?.(failure);
    if (!retryable) this.clearRetry();
    else if (this.retryTimer === null && !this.closed) {
      this.retryTimer = setInterval(
        () => this.enqueue(() => this.retryBacklog()).catch((err: unknown) => this.opts.log.error({ err }, 'log retry failed unexpectedly')),
        WRITE_RETRY_MS,
      );
      this.retryTimer.unref();
    }
  }

  /**
   * After a failed write: cut whatever part of it reached the file, write the records
   * that were refused (they are applied in memory, so the file must catch up), fdatasync,
   * and accept writes again.
   */
  private async retryBacklog(): Promise<void> {
    if (this.failure_ === null || !this.failure_.retryable || this.closed) return;
    const data = this.backlog.length === 1 ? (this.backlog[0] as Buffer) : Buffer.concat(this.backlog);
    try {
      await this.fh.truncate(this.size);
      await writeAll(this.fh, data, this.size);
    } catch (err) {
      this.opts.log.debug({ err }, 'append-only log still cannot be written');
      return;
    }
    try {
      await this.fh.datasync();
    } catch (err) {
      this.fail('fsync', err, false);
      this.clearRetry();
      return;
    }
    this.size += data.length;
    this.unsynced = 0;
    this.backlog = [];
    const was = this.failure_;
    this.failure_ = null;
    this.clearRetry();
    this.opts.log.warn({ file: was.file, after: was.err.code, bytes: data.length }, 'append-only log writes recovered; accepting writes again');
    this.opts.onFailureChange?.(null);
  }

  private clearRetry(): void {
    if (this.retryTimer) clearInterval(this.retryTimer);
    this.retryTimer = null;
  }

  /** The error every write is refused with while the log is failing (RESP: -MISCONF, as Redis). */
  refusal(): KvError {
    return new KvError('READ_ONLY', `writes are refused: ${describeFailure(this.failure_)}. Reads still work`, {
      cause: this.failure_?.err,
    });
  }

  /** The error a client gets for a write applied in memory that the log could not make durable. */
  private unacknowledged(): KvError {
    return new KvError(
      'READ_ONLY',
      `write not acknowledged: ${describeFailure(this.failure_)}. The change is in memory but not on disk: ` +
        'it is written if the log recovers, and lost if the server restarts first',
      { cause: this.failure_?.err },
    );
  }

  /** Writes everything gathered so far and fdatasyncs it, whatever the policy. */
  flushAndSync(): Promise<void> {
    return this.enqueue(() => this.flushAndSyncNow());
  }

  /** (On the chain.) Writes the gathered batch and waits until everything written is fdatasynced. */
  private async flushAndSyncNow(): Promise<void> {
    await this.writeBatch();
    await this.syncAll();
    if (this.failure_) throw this.refusal();
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
      const file = segmentPath(this.opts.dir, next);
      let fh: FileHandle;
      try {
        fh = await this.ops.open(file, segmentFlags('exclusive', this.opts.policy));
      } catch (err) {
        // The old segment stays current; the snapshot fails and is tried again later.
        throw new Error(`could not start log segment ${file}: ${(err as Error).message}`, { cause: err });
      }
      try {
        await writeAll(fh, encodeFileHeader(FileKind.LOG, next), 0);
        await fh.datasync();
        await fsyncDir(this.opts.dir);
      } catch (err) {
        await fh.close().catch(() => undefined);
        await unlink(file).catch(() => undefined);
        throw new Error(`could not start log segment ${file}: ${(err as Error).message}`, { cause: err });
      }
      const old = this.fh;
      closed = { seq: this.seq, size: this.size, appended: this.appended };
      this.fh = fh;
      this.seq = next;
      this.size = FILE_HEADER_SIZE;
      this.unsynced = 0;
      await old.close();
    }).then(() => closed);
  }

  /** Flushes, fdatasyncs and closes. Pending writes that cannot be made durable are logged. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.flushAndSync();
    } catch (err) {
      this.opts.log.error({ err }, 'append-only log could not be flushed at close; the writes it refused are lost');
    }
    this.closed = true;
    this.clearRetry();
    if (this.syncTimer) clearInterval(this.syncTimer);
    await this.enqueue(async () => {
      await this.syncAll();
      await this.fh.close();
    });
  }
}

