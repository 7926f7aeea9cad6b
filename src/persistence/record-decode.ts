import type { ByteString } from '../store/bytes.js';
import { crc32Range } from './crc32.js';
import { FORMAT_VERSION, knownFlags, MAX_RECORD_BODY, optional, readU64, RECORD_FRAME_SIZE, RecordFlag, RecordType, U64 } from './formats.js';

/**
 * Reading one record of a log segment or a snapshot (the layouts are formats.ts's and
 * docs/FORMATS.md's): pure, no I/O. A reader fills one DecodedRecord again and again;
 * a record that is torn, damaged or not well-formed is a RecordFault, never a throw.
 */


/**
 * Buffer's own latin1 decoder, which every Node Buffer has though it is not documented:
 * toString('latin1', …) reaches it after argument handling that cost a fifth of the
 * time of a 100-byte value, twice per record at recovery.
 */
const latin1Slice: (this: Buffer, start: number, end: number) => string =
  (Buffer.prototype as unknown as { latin1Slice?: (this: Buffer, start: number, end: number) => string }).latin1Slice ??
  function (this: Buffer, start: number, end: number) {
    return this.toString('latin1', start, end);
  };

/**
 * One record as read. The same shape for every type, so that a reader can fill one
 * object again and again instead of making one per record (see decodeRecord); fields a
 * type does not have are '' or 0.
 */
export interface DecodedRecord {
  type: RecordType;
  /** PUT, DEL, EXPIRE. */
  key: ByteString;
  /** PUT. */
  value: ByteString;
  /** PUT, EXPIRE: absolute expiry in ms since the epoch; 0: none (an EXPIRE with 0 is a PERSIST). */
  expiresAt: number;
  /** PUT, DEL, EXPIRE: the revision the write took; END: the highest revision. 0: not recorded (format 1). */
  version: number;
  /** END: the number of PUT records in the snapshot; BATCH: the number of records it holds. */
  count: number;
  /** Bytes the record takes, frame included. */
  size: number;
  /**
   * PUT: the value is bytes [valueStart, valueEnd) of `buf`, valid until the next record
   * is read. The 16 bytes before valueStart are the record's own frame and key, which a
   * reader that has decoded it never reads again: a consumer may overwrite them
   * (DurableStore.recoverPut). BATCH: its records are those bytes, for the reader to
   * decode one by one.
   */
  buf: Buffer;
  valueStart: number;
  valueEnd: number;
  /**
   * Set by the reader: false leaves `value` '' and gives the value by its place in `buf`
   * alone, for a reader that builds its own string from the bytes (recovery: one
   * allocation a key instead of two).
   */
  sliceValue: boolean;
}

const NO_BYTES = Buffer.alloc(0);

export function blankRecord(sliceValue = true): DecodedRecord {
  return { type: RecordType.PUT, key: '', value: '', expiresAt: 0, version: 0, count: 0, size: 0, buf: NO_BYTES, valueStart: 0, valueEnd: 0, sliceValue };
}

/**
 * Why a record could not be read:
 * - `incomplete`: the bytes end before the record does (a torn tail, if nothing valid follows);
 * - `checksum`: the CRC does not match (damage, or a torn tail full of junk);
 * - `malformed`: the CRC matches but the fields do not make sense (e.g. a newer record type).
 */
export type RecordFault = { readonly fault: 'incomplete' | 'checksum' | 'malformed'; readonly detail: string };

/**
 * Reads the record at `at`, under the rules of format `format` (the file header's
 * version). `buf` ends where the available bytes end. Never throws on bad bytes.
 * The fields go into `into`, which is returned; a caller that reads many records
 * passes one object for all of them and uses each before reading the next.
 */
export function decodeRecord(buf: Buffer, at: number, format: number = FORMAT_VERSION, into: DecodedRecord = blankRecord()): DecodedRecord | RecordFault {
  const avail = buf.length - at;
  if (avail < RECORD_FRAME_SIZE) return { fault: 'incomplete', detail: `only ${avail} of the 8 frame bytes are present` };
  const len = buf.readUInt32LE(at + 4);
  if (len > MAX_RECORD_BODY) return { fault: 'checksum', detail: `record length ${len} is impossibly large` };
  if (avail < RECORD_FRAME_SIZE + len) {
    return { fault: 'incomplete', detail: `the record needs ${RECORD_FRAME_SIZE + len} bytes but only ${avail} are present` };
  }
  const end = at + RECORD_FRAME_SIZE + len;
  if (buf.readUInt32LE(at) !== crc32Range(buf, at + 4, end)) {
    return { fault: 'checksum', detail: 'the record checksum does not match' };
  }
  return decodeBody(buf, at + RECORD_FRAME_SIZE, end, format, into);
}

function decodeBody(buf: Buffer, p: number, end: number, format: number, r: DecodedRecord): DecodedRecord | RecordFault {
  if (end - p < 2) return malformed('the body is too short for a type and flags');
  const type = buf[p] as number;
  const flags = buf[p + 1] as number;
  p += 2;
  const known = knownFlags(format, type);
  if (known === undefined) {
    return malformed(`record type ${type} is not known to this server in a format-${format} file; the file may come from a newer dualkv`);
  }
  if ((flags & ~known) !== 0) {
    return malformed(`record flags 0x${flags.toString(16)} are not known to this server for type ${type}; the file may come from a newer dualkv`);
  }
  r.type = type as RecordType;
  r.size = end - p + 2 + RECORD_FRAME_SIZE;
  r.key = '';
  r.value = '';
  r.count = 0;
  if (type === RecordType.END) {
    r.expiresAt = 0;
    r.version = 0;
    if (end - p !== U64 + optional(flags & RecordFlag.VERSION)) return malformed('an END record must carry exactly its count and the fields its flags name');
    r.count = readU64(buf, p);
    if (r.count < 0) return malformed('the END count is impossibly large');
    if (flags & RecordFlag.VERSION) {
      r.version = readU64(buf, p + U64);
      if (r.version <= 0) return malformed('the END revision must be a positive number below 2^53');
    }
    return r;
  }
  if (type === RecordType.FLUSH) {
    r.expiresAt = 0;
    r.version = 0;
    if (end - p !== optional(flags & RecordFlag.VERSION)) return malformed('a FLUSH record must carry exactly the fields its flags name');
    if (flags & RecordFlag.VERSION) {
      r.version = readU64(buf, p);
      if (r.version <= 0) return malformed('a version field must be a positive number below 2^53');
    }
    return r;
  }
  if (type === RecordType.BATCH) {
    r.expiresAt = 0;
    r.version = 0;
    if (end - p < 4) return malformed('a BATCH record is too short for its count');
    r.count = buf.readUInt32LE(p);
    r.buf = buf;
    r.valueStart = p + 4;
    r.valueEnd = end;
    return r;
  }
  let q = prefixedEnd(buf, p, end);
  if (q < 0) return malformed('the key length runs past the end of the record');
  r.key = latin1Slice.call(buf, p + 4, q);
  p = q;
  if (type === RecordType.PUT) {
    q = prefixedEnd(buf, p, end);
    if (q < 0) return malformed('the value length runs past the end of the record');
    r.buf = buf;
    r.valueStart = p + 4;
    r.valueEnd = q;
    if (r.sliceValue) r.value = latin1Slice.call(buf, p + 4, q);
    p = q;
  }
  if (end - p !== optional(flags & RecordFlag.EXPIRY) + optional(flags & RecordFlag.VERSION)) {
    return malformed(`a ${typeName(type)} record's length does not match its fields (${end - p} bytes after its ${type === RecordType.PUT ? 'value' : 'key'})`);
  }
  r.expiresAt = 0;
  if (flags & RecordFlag.EXPIRY) {
    r.expiresAt = readU64(buf, p);
    if (r.expiresAt <= 0) return malformed('an expiry field must be a positive time below 2^53 ms (no expiry is written as no field)');
    p += U64;
  }
  r.version = 0;
  if (flags & RecordFlag.VERSION) {
    r.version = readU64(buf, p);
    if (r.version <= 0) return malformed('a version field must be a positive number below 2^53');
  }
  return r;
}

/** Where the bytes after the u32 length at `p` end, or -1 when the length or they run past `end`. */
function prefixedEnd(buf: Buffer, p: number, end: number): number {
  if (end - p < 4) return -1;
  const n = buf.readUInt32LE(p);
  return n > end - p - 4 ? -1 : p + 4 + n;
}

/** A u64 field as a number, or -1 when it is 2^53 or more (not exact in JavaScript). */

function typeName(type: number): string {
  return type === RecordType.PUT ? 'PUT' : type === RecordType.DEL ? 'DEL' : 'EXPIRE';
}

function malformed(detail: string): RecordFault {
  return { fault: 'malformed', detail };
}

export function isFault(r: DecodedRecord | RecordFault): r is RecordFault {
  return 'fault' in r;
}
