/**
 * Builds a snapshot from files alone: the previous snapshot plus the closed log
 * segments, folded into one record per live key. It never sees the live store, so
 * it can run in a worker thread while the main thread goes on serving.
 *
 * Crash safety, as Redis writes its RDB: write `<name>.tmp`, fsync it, rename it
 * into place, fsync the directory. A crash before the rename leaves only a .tmp
 * (deleted at the next start); a crash after it leaves a complete snapshot, and the
 * segments it folded are then garbage that the next start deletes.
 */
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { StoredKey } from '../backend/types.js';
import { readRecordFile, type ReadOutcome } from './file-reader.js';
import { fsyncDirSync, segmentPath, snapshotPath } from './files.js';
import { FoldedKeys } from './folded-keys.js';
import { encodeEnd, encodeFileHeader, encodeStoredKey, END_RECORD_SIZE, FileKind, FILE_HEADER_SIZE, putSize } from './formats.js';
import { type DecodedRecord } from './record-decode.js';
import { Replay } from './replay.js';

export interface SnapshotJob {
  readonly dir: string;
  /** The snapshot to start from (its number), or null to start empty. */
  readonly base: number | null;
  /** Closed segments to fold in, ascending. */
  readonly segments: readonly number[];
  /** The new snapshot's number: the first segment it does NOT hold. */
  readonly seq: number;
  /** --repair: read the base snapshot past damaged records instead of failing. */
  readonly salvageBase?: boolean;
  /**
   * The final snapshot at shutdown: nobody is left to serve, so it runs at full speed
   * and normal priority rather than yielding the CPU (see snapshot-worker.ts).
   */
  readonly urgent?: boolean;
  /** Keys whose expiry is before this time (ms since the epoch) are left out; default: when the build starts. */
  readonly now?: number;
}

export interface SnapshotResult {
  readonly seq: number;
  readonly file: string;
  readonly keys: number;
  readonly bytes: number;
  readonly ms: number;
}

const CHUNK = 1024 * 1024;

/**
 * Spreads a snapshot's CPU use over time: after every `sliceMs` of work it sleeps so
 * that work is at most `duty` of the wall time. On a machine with few cores a
 * snapshot running flat out (its allocations keep V8's shared GC threads busy too)
 * doubled the p99 of requests served meanwhile; paced, it takes longer and they barely
 * notice (bench/persistence-stall.ts). Atomics.wait blocks this thread only.
 */
export class Pacer {
  private readonly sleeper = new Int32Array(new SharedArrayBuffer(4));
  private sliceStart = performance.now();
  private calls = 0;

  constructor(
    private readonly duty: number,
    private readonly sliceMs = 4,
  ) {}

  /** Called once per record; cheap except every 512th call. */
  tick(): void {
    if (++this.calls & 511) return;
    const worked = performance.now() - this.sliceStart;
    if (worked < this.sliceMs) return;
    Atomics.wait(this.sleeper, 0, 0, (worked * (1 - this.duty)) / this.duty);
    this.sliceStart = performance.now();
  }
}

const NO_PACING = { tick: () => undefined };

/** A file in the data directory that cannot be read; the message says which, where and why. */
export class SnapshotInputError extends Error {
  constructor(
    readonly file: string,
    readonly offset: number,
    detail: string,
  ) {
    super(`${file} cannot be read at offset ${offset}: ${detail}`);
    this.name = 'SnapshotInputError';
  }
}

/**
 * Reads a snapshot, going past damaged records (a --repair salvage). Returns the bytes
 * skipped, and the highest revision an END record read on the way names.
 */
export function salvageSnapshot(file: string, onRecord: (r: DecodedRecord) => void): { outcome: ReadOutcome; skipped: number; endRevision: number } {
  // Its records go to a Replay, which reads a PUT's value from the bytes.
  let outcome = readRecordFile(file, FileKind.SNAPSHOT, onRecord, { values: 'bytes' });
  // Past damage the header is not read again: go on with the rules it gave (or the newest, when it is the damage).
  const format = outcome.format ?? undefined;
  let skipped = 0;
  let endRevision = outcome.endRevision;
  while (outcome.problem !== null && outcome.problem.nextValidOffset !== null) {
    skipped += outcome.problem.nextValidOffset - outcome.problem.offset;
    outcome = readRecordFile(file, FileKind.SNAPSHOT, onRecord, { from: outcome.problem.nextValidOffset, format, values: 'bytes' });
    endRevision = Math.max(endRevision, outcome.endRevision);
  }
  if (outcome.problem !== null) skipped += outcome.problem.bytesAfter;
  return { outcome, skipped, endRevision };
}

export function buildSnapshot(job: SnapshotJob, pacer: Pick<Pacer, 'tick'> = NO_PACING): SnapshotResult {
  const started = performance.now();
  const now = job.now ?? Date.now();
  const keys = new FoldedKeys(now);
  // The same replay as recovery's, so that the snapshot holds what a restart would load.
  const replay = new Replay(keys);
  const paced = (apply: (r: DecodedRecord) => void) => (r: DecodedRecord) => {
    apply(r);
    pacer.tick();
  };
  if (job.base !== null) {
    const file = snapshotPath(job.dir, job.base);
    const onRecord = paced(replay.record);
    if (job.salvageBase) replay.noteRevision(salvageSnapshot(file, onRecord).endRevision);
    else {
      const out = readRecordFile(file, FileKind.SNAPSHOT, onRecord, { values: 'bytes' });
      if (out.problem) throw new SnapshotInputError(file, out.problem.offset, out.problem.detail);
      replay.noteRevision(out.endRevision);
    }
  }
  const onLogRecord = paced(replay.record);
  for (const seq of job.segments) {
    const file = segmentPath(job.dir, seq);
    const out = readRecordFile(file, FileKind.LOG, onLogRecord, { values: 'bytes' });
    // Closed segments were fdatasynced whole at rotation: a bad byte in one is damage, never a torn tail.
    if (out.problem) throw new SnapshotInputError(file, out.problem.offset, out.problem.detail);
    if (out.seq !== seq) throw new SnapshotInputError(file, 8, `its header says segment ${String(out.seq)}`);
  }
  const file = snapshotPath(job.dir, job.seq);
  const tmp = `${file}.tmp`;
  replay.finish();
  let written: { bytes: number; keys: number };
  try {
    written = writeSnapshotFile(tmp, job.seq, keys.entries(), keys.revision, pacer);
    renameSync(tmp, file);
  } catch (err) {
    // On a full disk the half-written file holds the space the log needs to recover.
    try {
      unlinkSync(tmp);
    } catch {
      // Never created, or the directory is gone.
    }
    throw err;
  }
  fsyncDirSync(job.dir);
  return { seq: job.seq, file, keys: written.keys, bytes: written.bytes, ms: performance.now() - started };
}

/**
 * Writes every key as a snapshot file, and in its END record `revision`, the highest
 * revision its history reached; fsyncs it. Returns its size and key count.
 */
export function writeSnapshotFile(
  file: string,
  seq: number,
  entries: Iterable<StoredKey>,
  revision: number,
  pacer: Pick<Pacer, 'tick'> = NO_PACING,
): { bytes: number; keys: number } {
  const fd = openSync(file, 'w');
  try {
    let written = 0;
    const put = (b: Buffer, len: number) => {
      let done = 0;
      while (done < len) done += writeSync(fd, b, done, len - done, written + done);
      written += len;
    };
    put(encodeFileHeader(FileKind.SNAPSHOT, seq), FILE_HEADER_SIZE);
    let buf = Buffer.allocUnsafe(CHUNK);
    let len = 0;
    let keys = 0;
    for (const k of entries) {
      pacer.tick();
      keys++;
      const need = putSize(k.key, k.value, k.expiresAt, k.version);
      if (len + need > buf.length) {
        put(buf, len);
        len = 0;
        if (need > buf.length) buf = Buffer.allocUnsafe(need);
      }
      len = encodeStoredKey(buf, len, k);
    }
    if (len + END_RECORD_SIZE > buf.length) {
      put(buf, len);
      len = 0;
    }
    len = encodeEnd(buf, len, keys, revision);
    put(buf, len);
    fsyncSync(fd);
    return { bytes: written, keys };
  } finally {
    closeSync(fd);
  }
}
