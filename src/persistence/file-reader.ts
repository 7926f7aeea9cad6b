/**
 * Reads a log segment or a snapshot record by record, with synchronous reads in
 * large chunks. Used at start (before the server listens) and by the snapshot
 * worker (off the main thread), so blocking reads are fine here and faster.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { decodeFileHeader, FILE_HEADER_SIZE, FileKind, FORMAT_VERSION, knownFlags, MAX_RECORD_BODY, RECORD_FRAME_SIZE, RecordType } from './formats.js';
import { blankRecord, decodeRecord, isFault, type DecodedRecord, type RecordFault } from './record-decode.js';

const CHUNK = 4 * 1024 * 1024;
/** findValidRecord's record to decode into: what it decodes is thrown away. */
const scratch = blankRecord();
/** checkBatch's: it needs no value as a string. */
const batchScratch = blankRecord(false);

/** What is wrong with a file, and where. */
export interface FileProblem {
  /** Byte offset of the first bad byte: the record (or header) that could not be read. */
  readonly offset: number;
  /**
   * `torn`: nothing valid follows the bad bytes, as after a crash mid-write; cutting them
   * loses nothing that was ever complete. `corrupt`: anything else.
   */
  readonly kind: 'torn' | 'corrupt';
  readonly detail: string;
  /** Bytes from `offset` to the end of the file. */
  readonly bytesAfter: number;
  /** For `corrupt` records: where the next readable record starts, if any. */
  readonly nextValidOffset: number | null;
}

export interface ReadOutcome {
  /** The header's sequence number, or null when the header is unreadable. */
  readonly seq: number | null;
  readonly records: number;
  /** Offset just past the last good record (or the header): where a repair cuts the file. */
  readonly goodEnd: number;
  readonly fileSize: number;
  /** The header's format version, or null when the header is unreadable. */
  readonly format: number | null;
  /** A snapshot's END count (null for logs, or when missing). */
  readonly endCount: number | null;
  /** The highest revision a snapshot's END names (0 when it names none, as in format 1). */
  readonly endRevision: number;
  readonly problem: FileProblem | null;
}

/** A moving window over a file, refilled with big sequential reads. */
class FileWindow {
  private buf = Buffer.allocUnsafe(0);
  /** The valid bytes of `buf`; decodeRecord sees its end as the end of the data. */
  view = Buffer.alloc(0);
  start = 0;

  constructor(
    private readonly fd: number,
    readonly size: number,
  ) {}

  /** Makes bytes [pos, pos+n) available in `view`; false if the file ends first. */
  ensure(pos: number, n: number): boolean {
    if (pos >= this.start && pos + n <= this.start + this.view.length) return true;
    if (pos + n > this.size) return false;
    const want = Math.min(Math.max(n, CHUNK), this.size - pos);
    if (this.buf.length < want) this.buf = Buffer.allocUnsafe(Math.max(want, CHUNK));
    let got = 0;
    while (got < want) {
      const r = readSync(this.fd, this.buf, got, want - got, pos + got);
      if (r === 0) break;
      got += r;
    }
    this.start = pos;
    this.view = this.buf.subarray(0, got);
    return got >= n;
  }

  index(pos: number): number {
    return pos - this.start;
  }
}

/**
 * Reads every record of `file` and hands each good one (END aside) to `onRecord`, in
 * order. Stops at the first bad record and says what it found; the caller decides
 * whether that is a torn tail to cut or corruption to refuse.
 *
 * `onRecord` is given the same object each time, refilled: it must take what it needs
 * before it returns (one object for a million records, instead of a million objects).
 * With `values: 'bytes'` a PUT's value is left in the read buffer (rec.buf, from
 * rec.valueStart to rec.valueEnd) instead of being made a string.
 */
export function readRecordFile(
  file: string,
  kind: FileKind,
  onRecord: (r: DecodedRecord) => void,
  options: { from?: number; format?: number; values?: 'string' | 'bytes' } = {},
): ReadOutcome {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const win = new FileWindow(fd, size);
    // `from` (salvage, by --repair) skips the header and the END count check: the file is known to be damaged.
    const salvage = options.from !== undefined;
    let seq: number | null = null;
    // A salvage starts past the header: it reads with the rules the caller found there (or the newest).
    let format = options.format ?? FORMAT_VERSION;
    let headerFormat: number | null = null;
    if (!salvage) {
      win.ensure(0, Math.min(size, FILE_HEADER_SIZE));
      const header = decodeFileHeader(win.view.subarray(0, Math.min(size, FILE_HEADER_SIZE)), kind);
      if (!header.ok) {
        const next = header.reason === 'short' ? null : findValidRecord(win, FILE_HEADER_SIZE, format);
        return {
          seq: null,
          records: 0,
          goodEnd: 0,
          fileSize: size,
          format: null,
          endCount: null,
          endRevision: 0,
          problem: { offset: 0, kind: next === null && header.reason === 'short' ? 'torn' : 'corrupt', detail: header.detail, bytesAfter: size, nextValidOffset: next },
        };
      }
      seq = header.seq;
      format = header.version;
      headerFormat = header.version;
    }
    let pos = salvage ? (options.from as number) : FILE_HEADER_SIZE;
    let records = 0;
    let endCount: number | null = null;
    let endRevision = 0;
    // 'bytes': a PUT's value is given by its place in rec.buf only (DecodedRecord.sliceValue).
    const rec = blankRecord(options.values !== 'bytes');
    const outcome = (problem: FileProblem | null): ReadOutcome => ({
      seq,
      records,
      goodEnd: pos,
      fileSize: size,
      format: headerFormat,
      endCount,
      endRevision,
      problem,
    });
    while (pos < size) {
      if (endCount !== null) {
        return outcome(corrupt(pos, size, 'there are bytes after the END record', null));
      }
      let got: DecodedRecord | RecordFault;
      if (!win.ensure(pos, RECORD_FRAME_SIZE)) {
        got = { fault: 'incomplete', detail: `only ${size - pos} of the 8 frame bytes are present` };
      } else {
        const len = win.view.readUInt32LE(win.index(pos) + 4);
        if (len <= MAX_RECORD_BODY && !win.ensure(pos, RECORD_FRAME_SIZE + len)) {
          got = { fault: 'incomplete', detail: `the record needs ${RECORD_FRAME_SIZE + len} bytes but only ${size - pos} are left` };
        } else {
          got = decodeRecord(win.view, win.index(pos), format, rec);
        }
      }
      if (isFault(got)) {
        if (got.fault === 'malformed') return outcome(corrupt(pos, size, got.detail, null));
        const next = findValidRecord(win, afterBatchRecords(win, pos, format), format);
        if (next === null) {
          return outcome({ offset: pos, kind: 'torn', detail: got.detail, bytesAfter: size - pos, nextValidOffset: null });
        }
        return outcome(corrupt(pos, size, got.detail, next));
      }
      const recordSize = rec.size;
      if (rec.type === RecordType.END) {
        if (kind !== FileKind.SNAPSHOT) return outcome(corrupt(pos, size, 'an END record in a log segment', null));
        endCount = rec.count;
        endRevision = rec.version;
      } else if (rec.type === RecordType.BATCH) {
        if (kind !== FileKind.LOG) return outcome(corrupt(pos, size, 'a BATCH record in a snapshot', null));
        // Its CRC held, so everything in it was written whole: the records are checked before any is applied.
        const fault = checkBatch(rec, format);
        if (fault !== null) return outcome(corrupt(pos, size, fault, null));
        const { buf, valueStart, valueEnd, count } = rec;
        const bounded = buf.subarray(0, valueEnd);
        for (let p = valueStart, i = 0; i < count; i++) {
          decodeRecord(bounded, p, format, rec);
          p += rec.size;
          records++;
          onRecord(rec);
        }
      } else {
        if (rec.type === RecordType.FLUSH && kind !== FileKind.LOG) return outcome(corrupt(pos, size, 'a FLUSH record in a snapshot', null));
        records++;
        onRecord(rec);
      }
      pos += recordSize;
    }
    if (kind === FileKind.SNAPSHOT && !salvage) {
      if (endCount === null) {
        return outcome(corrupt(pos, size, 'the snapshot ends without its END record (it was cut short)', null));
      }
      if (endCount !== records) {
        return outcome(corrupt(pos, size, `the END record counts ${endCount} keys but the snapshot holds ${records}`, null));
      }
    }
    return outcome(null);
  } finally {
    closeSync(fd);
  }
}

/** Why the records of a BATCH (its CRC good) cannot all be applied, or null when they can. */
function checkBatch(batch: DecodedRecord, format: number): string | null {
  const bounded = batch.buf.subarray(0, batch.valueEnd);
  let p = batch.valueStart;
  for (let i = 0; i < batch.count; i++) {
    const r = decodeRecord(bounded, p, format, batchScratch);
    if (isFault(r)) return `record ${i + 1} of a BATCH of ${batch.count}: ${r.detail}`;
    if (r.type !== RecordType.PUT && r.type !== RecordType.DEL && r.type !== RecordType.EXPIRE && r.type !== RecordType.FLUSH) {
      return `record ${i + 1} of a BATCH of ${batch.count} is of type ${r.type}; a BATCH holds only PUT, DEL, EXPIRE and FLUSH`;
    }
    p += r.size;
  }
  return p === batch.valueEnd ? null : `a BATCH of ${batch.count} records has ${batch.valueEnd - p} bytes after them`;
}

function corrupt(offset: number, size: number, detail: string, next: number | null): FileProblem {
  return { offset, kind: 'corrupt', detail, bytesAfter: size - offset, nextValidOffset: next };
}

/**
 * Where to look for a good record after a bad one at `pos`: just after it, or, when it
 * is a BATCH, after the whole records at its start. Those are the BATCH's own (a torn
 * transaction keeps the ones written before the crash), and must not pass for good
 * records after the damage, which would make a torn tail look like corruption.
 */
function afterBatchRecords(win: FileWindow, pos: number, format: number): number {
  if (!win.ensure(pos, RECORD_FRAME_SIZE + 2) || win.view[win.index(pos) + 8] !== RecordType.BATCH) return pos + 1;
  let p = pos + RECORD_FRAME_SIZE + 6;
  for (;;) {
    if (!win.ensure(p, RECORD_FRAME_SIZE)) return p;
    const len = win.view.readUInt32LE(win.index(p) + 4);
    if (len > MAX_RECORD_BODY || !win.ensure(p, RECORD_FRAME_SIZE + len)) return p;
    const i = win.index(p);
    if (isFault(decodeRecord(win.view.subarray(0, i + RECORD_FRAME_SIZE + len), i, format, batchScratch))) return p;
    p += RECORD_FRAME_SIZE + len;
  }
}

/**
 * The offset of the first complete record with a good checksum at or after `from`, or
 * null. This is what separates a torn tail (junk to the end of the file) from damage in
 * the middle (good records after the bad one). Cheap checks on the type and flags bytes
 * come before the CRC, so junk is skipped quickly.
 */
function findValidRecord(win: FileWindow, from: number, format: number): number | null {
  const size = win.size;
  for (let pos = from; pos + RECORD_FRAME_SIZE + 2 <= size; pos++) {
    if (!win.ensure(pos, RECORD_FRAME_SIZE + 2)) return null;
    const i = win.index(pos);
    const len = win.view.readUInt32LE(i + 4);
    if (len < 2 || len > size - pos - RECORD_FRAME_SIZE || len > MAX_RECORD_BODY) continue;
    const known = knownFlags(format, win.view[i + 8] as number);
    if (known === undefined || ((win.view[i + 9] as number) & ~known) !== 0) continue;
    if (!win.ensure(pos, RECORD_FRAME_SIZE + len)) continue;
    if (!isFault(decodeRecord(win.view.subarray(0, win.index(pos) + RECORD_FRAME_SIZE + len), win.index(pos), format, scratch))) return pos;
  }
  return null;
}
