/**
 * The on-disk formats of the append-only log and the snapshot. Pure functions over
 * bytes: no I/O, no logging. docs/FORMATS.md is the reference, with hex vectors that
 * test/persistence/formats-vectors.test.ts decodes from the page.
 *
 * Both kinds of file are a 24-byte header followed by records. All integers are
 * little-endian.
 *
 * File header (24 bytes):
 * ```
 *  0  4  magic    "DKVL" (log segment) or "DKVS" (snapshot)
 *  4  2  version  2 (this server writes it); 1 is still read
 *  6  2  flags    0 (no file-level options defined yet)
 *  8  8  seq      log: the segment's number; snapshot: the first segment NOT folded into it
 * 16  4  reserved 0
 * 20  4  crc32    CRC-32 (IEEE) of bytes 0..19
 * ```
 *
 * Record (8-byte frame + body):
 * ```
 *  0  4  crc32    CRC-32 (IEEE) of bytes 4 .. 8+len (the length field and the body)
 *  4  4  len      body length
 *  8  1  type     1 PUT, 2 DEL, 3 END (the last record of a snapshot), 4 EXPIRE,
 *                 5 BATCH (a transaction's records, applied all or none), 6 FLUSH (every key deleted)
 *  9  1  flags    each bit announces an optional field after the fixed ones:
 *                 bit 0 an 8-byte expiry (ms since the epoch), bit 1 an 8-byte version
 * 10  4  klen     PUT/DEL/EXPIRE: key length; then the key
 *     4  vlen     PUT only: value length; then the value
 *     8  expiry   PUT/EXPIRE with bit 0 (an EXPIRE without it is a PERSIST)
 *     8  version  PUT/DEL/EXPIRE with bit 1: the revision the write took
 * END body: type, flags, an 8-byte count of the PUT records in the snapshot, and with
 * bit 1 the highest revision the snapshot's history reached.
 * FLUSH body: type, flags, and with bit 1 the revision it took.
 * BATCH body (logs only): type, flags 0, a 4-byte count, then that many complete PUT,
 * DEL, EXPIRE and FLUSH records (each with its own frame). The BATCH's CRC covers them all, so a
 * transaction torn by a crash is one torn record, and is dropped whole.
 * ```
 * Because the length comes first and is covered by the CRC, a reader can tell a torn
 * record (it runs past the end of the file) from a damaged one (its CRC fails).
 *
 * Format 2 added the flags and EXPIRE. Its header says 2 so that a format-1 server
 * refuses the whole file up front, naming the version, instead of meeting a flag it
 * does not know in the middle and calling the file corrupt. A format-1 file is read
 * with format 1's rules: no flags, no EXPIRE.
 */
import type { Mutation, StoredKey } from '../backend/types.js';
import { writeLatin1, type ByteString } from '../store/bytes.js';
import { crc32Range } from './crc32.js';

export const FORMAT_VERSION = 2;
/** The oldest format this server still reads. */
export const OLDEST_FORMAT_VERSION = 1;
export const FILE_HEADER_SIZE = 24;
export const RECORD_FRAME_SIZE = 8;

export const FileKind = {
  LOG: 'DKVL',
  SNAPSHOT: 'DKVS',
} as const;
export type FileKind = (typeof FileKind)[keyof typeof FileKind];

export const RecordType = {
  PUT: 1,
  DEL: 2,
  END: 3,
  EXPIRE: 4,
  BATCH: 5,
  FLUSH: 6,
} as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

export const RecordFlag = {
  /** An 8-byte absolute expiry, ms since the epoch (PUT, EXPIRE). */
  EXPIRY: 0x01,
  /** An 8-byte version: the revision the write took (PUT, DEL, EXPIRE), or the highest one (END). */
  VERSION: 0x02,
} as const;

const EV = RecordFlag.EXPIRY | RecordFlag.VERSION;
/**
 * The flag bits each record type may carry, by format version (index: the type;
 * undefined: a type that format does not have). A reader refuses anything else, so
 * an old server never misreads a newer file.
 */
const KNOWN_FLAGS: Readonly<Record<number, ReadonlyArray<number | undefined>>> = {
  1: [undefined, 0, 0, 0],
  2: [undefined, EV, RecordFlag.VERSION, RecordFlag.VERSION, EV, 0, RecordFlag.VERSION],
};

/** The flag bits `type` may carry in a file of `format`, or undefined when that format has no such type. */
export function knownFlags(format: number, type: number): number | undefined {
  return KNOWN_FLAGS[format]?.[type];
}

/** A body longer than this is taken as damage, not data: values are at most 512 MiB. */
export const MAX_RECORD_BODY = 1024 * 1024 * 1024 + 64 * 1024;

/** Versions and times are below 2^53 (JavaScript's exact integers); the high word of a u64 field stays below 2^21. */
const MAX_HIGH_WORD = 0x1fffff;
/** 2^32: a u64 field is written and read as two 32-bit words. */
const TWO_32 = 0x1_0000_0000;

const KEYED_OVERHEAD = RECORD_FRAME_SIZE + 2 + 4;
export const U64 = 8;
export const END_RECORD_SIZE = RECORD_FRAME_SIZE + 2 + U64 + U64;

/** CRC-32 (IEEE), as zlib computes it. */
export function crc32(buf: Uint8Array): number {
  return crc32Range(buf, 0, buf.length);
}

/** The bytes an optional u64 field takes: none when it is 0. */
export const optional = (n: number) => (n > 0 ? U64 : 0);

/** Bytes a PUT record of these fields takes. */
export function putSize(key: ByteString, value: ByteString, expiresAt: number, version: number): number {
  return KEYED_OVERHEAD + key.length + 4 + value.length + optional(expiresAt) + optional(version);
}

/** Bytes a mutation takes as a record. */
export function recordSize(m: Mutation): number {
  switch (m.kind) {
    case 'put':
      return putSize(m.key, m.value, m.expiresAt, m.version);
    case 'del':
      return KEYED_OVERHEAD + m.key.length + optional(m.version);
    case 'expire':
      return KEYED_OVERHEAD + m.key.length + optional(m.expiresAt) + optional(m.version);
    case 'flush':
      return RECORD_FRAME_SIZE + 2 + optional(m.version);
  }
}

/** The fixed part of a BATCH record: frame, type, flags, count. */
export const BATCH_OVERHEAD = RECORD_FRAME_SIZE + 2 + 4;

/** Bytes a BATCH record of these mutations takes. */
export function batchSize(ms: readonly Mutation[]): number {
  let n = BATCH_OVERHEAD;
  for (const m of ms) n += recordSize(m);
  return n;
}

/** Writes the 8-byte frame (length, then the CRC over length + body) for a body already in place. */
function sealRecord(buf: Buffer, at: number, bodyLen: number): void {
  buf.writeUInt32LE(bodyLen, at + 4);
  buf.writeUInt32LE(crc32Range(buf, at + 4, at + RECORD_FRAME_SIZE + bodyLen), at);
}

/** A u64 field from a number below 2^53, without a BigInt. */
function writeU64(buf: Buffer, p: number, n: number): number {
  buf.writeUInt32LE(n % TWO_32, p);
  buf.writeUInt32LE(Math.floor(n / TWO_32), p + 4);
  return p + U64;
}

/**
 * Encodes a keyed record: type, flags, key, the value (PUT), then the expiry and the
 * version when they are set (> 0). Returns the end offset.
 */
function encodeKeyed(buf: Buffer, at: number, type: RecordType, key: ByteString, value: ByteString | null, expiresAt: number, version: number): number {
  let p = at + RECORD_FRAME_SIZE;
  buf[p++] = type;
  buf[p++] = (expiresAt > 0 ? RecordFlag.EXPIRY : 0) | (version > 0 ? RecordFlag.VERSION : 0);
  p = writeBytes(buf, p, key);
  if (value !== null) p = writeBytes(buf, p, value);
  if (expiresAt > 0) p = writeU64(buf, p, expiresAt);
  if (version > 0) p = writeU64(buf, p, version);
  sealRecord(buf, at, p - at - RECORD_FRAME_SIZE);
  return p;
}

/** Encodes a mutation into `buf` at `at` (which must have recordSize(m) bytes free). Returns the end offset. */
export function encodeMutation(buf: Buffer, at: number, m: Mutation): number {
  switch (m.kind) {
    case 'put':
      return encodeKeyed(buf, at, RecordType.PUT, m.key, m.value, m.expiresAt, m.version);
    case 'del':
      return encodeKeyed(buf, at, RecordType.DEL, m.key, null, 0, m.version);
    case 'expire':
      return encodeKeyed(buf, at, RecordType.EXPIRE, m.key, null, m.expiresAt, m.version);
    case 'flush': {
      let p = at + RECORD_FRAME_SIZE;
      buf[p++] = RecordType.FLUSH;
      buf[p++] = m.version > 0 ? RecordFlag.VERSION : 0;
      if (m.version > 0) p = writeU64(buf, p, m.version);
      sealRecord(buf, at, p - at - RECORD_FRAME_SIZE);
      return p;
    }
  }
}

/** Encodes a BATCH of mutations at `at` (which must have batchSize(ms) bytes free). Returns the end offset. */
export function encodeBatch(buf: Buffer, at: number, ms: readonly Mutation[]): number {
  let p = at + RECORD_FRAME_SIZE;
  buf[p++] = RecordType.BATCH;
  buf[p++] = 0;
  buf.writeUInt32LE(ms.length, p);
  p += 4;
  for (const m of ms) p = encodeMutation(buf, p, m);
  sealRecord(buf, at, p - at - RECORD_FRAME_SIZE);
  return p;
}

/** Encodes a snapshot's record of one key (a PUT). */
export function encodeStoredKey(buf: Buffer, at: number, k: StoredKey): number {
  return encodeKeyed(buf, at, RecordType.PUT, k.key, k.value, k.expiresAt, k.version);
}

/** Encodes the END record of a snapshot holding `count` keys, whose history reached revision `revision`. */
export function encodeEnd(buf: Buffer, at: number, count: number, revision: number): number {
  let p = at + RECORD_FRAME_SIZE;
  buf[p++] = RecordType.END;
  buf[p++] = revision > 0 ? RecordFlag.VERSION : 0;
  p = writeU64(buf, p, count);
  if (revision > 0) p = writeU64(buf, p, revision);
  sealRecord(buf, at, p - at - RECORD_FRAME_SIZE);
  return p;
}

function writeBytes(buf: Buffer, p: number, s: ByteString): number {
  buf.writeUInt32LE(s.length, p);
  p += 4;
  return writeLatin1(buf, p, s);
}

export function encodeFileHeader(kind: FileKind, seq: number, version: number = FORMAT_VERSION): Buffer {
  const buf = Buffer.alloc(FILE_HEADER_SIZE);
  buf.write(kind, 0, 'latin1');
  buf.writeUInt16LE(version, 4);
  buf.writeUInt16LE(0, 6);
  writeU64(buf, 8, seq);
  buf.writeUInt32LE(0, 16);
  buf.writeUInt32LE(crc32Range(buf, 0, 20), 20);
  return buf;
}

export type HeaderResult =
  | { readonly ok: true; readonly seq: number; readonly version: number }
  | { readonly ok: false; readonly reason: 'short' | 'magic' | 'checksum' | 'version'; readonly detail: string };

/** Checks a file header. `buf` holds the first bytes of the file (fewer than 24 if the file is shorter). */
export function decodeFileHeader(buf: Buffer, kind: FileKind): HeaderResult {
  if (buf.length < FILE_HEADER_SIZE) {
    return { ok: false, reason: 'short', detail: `the file is ${buf.length} bytes, shorter than its ${FILE_HEADER_SIZE}-byte header` };
  }
  const magic = buf.toString('latin1', 0, 4);
  if (magic !== kind) {
    return { ok: false, reason: 'magic', detail: `the file does not start with ${kind} (found ${JSON.stringify(magic)})` };
  }
  if (buf.readUInt32LE(20) !== crc32Range(buf, 0, 20)) {
    return { ok: false, reason: 'checksum', detail: 'the header checksum does not match' };
  }
  const version = buf.readUInt16LE(4);
  const flags = buf.readUInt16LE(6);
  if (version > FORMAT_VERSION || flags !== 0) {
    return {
      ok: false,
      reason: 'version',
      detail: `format version ${version} (flags ${flags}) is newer than this server understands (${FORMAT_VERSION}); run a newer dualkv`,
    };
  }
  if (version < OLDEST_FORMAT_VERSION) {
    return { ok: false, reason: 'version', detail: `format version ${version} was never written by dualkv` };
  }
  const seq = readU64(buf, 8);
  if (seq < 0) return { ok: false, reason: 'version', detail: 'the sequence number is too large for this server' };
  return { ok: true, seq, version };
}

/** A u64 field, which this format keeps below 2^53. */
export function readU64(buf: Buffer, p: number): number {
  const hi = buf.readUInt32LE(p + 4);
  if (hi > MAX_HIGH_WORD) return -1;
  return hi * TWO_32 + buf.readUInt32LE(p);
}
