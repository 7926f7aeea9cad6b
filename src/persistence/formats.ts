/**
 * The on-disk formats of the append-only log and the snapshot. Pure functions over
 * bytes: no I/O, no logging.
 *
 * Both kinds of file are a 24-byte header followed by records. All integers are
 * little-endian.
 *
 * File header (24 bytes):
 * ```
 *  0  4  magic    "DKVL" (log segment) or "DKVS" (snapshot)
 *  4  2  version  FORMAT_VERSION (1); a reader refuses a newer version
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
 *  8  1  type     1 PUT, 2 DEL, 3 END (the last record of a snapshot)
 *  9  1  flags    0; each bit will announce an optional field after the payload
 *                 (planned: bit 0 an expiry time, bit 1 a per-key version). A reader
 *                 refuses bits it does not know, so old servers never misread new files.
 * 10  4  klen     PUT/DEL: key length; then the key
 *     4  vlen     PUT only: value length; then the value
 * END body: type, flags, then an 8-byte count of the PUT records in the snapshot.
 * ```
 * Because the length comes first and is covered by the CRC, a reader can tell a torn
 * record (it runs past the end of the file) from a damaged one (its CRC fails).
 */
import CRC32 from 'crc-32';
import type { ByteString } from '../store/bytes.js';
import type { Mutation } from '../backend/types.js';

export const FORMAT_VERSION = 1;
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
} as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

/** Record flag bits this version understands (none yet: see the layout above). */
export const KNOWN_RECORD_FLAGS = 0;

/** A body longer than this is taken as damage, not data: values are at most 512 MiB. */
export const MAX_RECORD_BODY = 1024 * 1024 * 1024 + 64 * 1024;

const PUT_OVERHEAD = RECORD_FRAME_SIZE + 2 + 4 + 4;
const DEL_OVERHEAD = RECORD_FRAME_SIZE + 2 + 4;
export const END_RECORD_SIZE = RECORD_FRAME_SIZE + 2 + 8;

export function crc32(buf: Uint8Array): number {
  return CRC32.buf(buf) >>> 0;
}

/** Bytes a mutation takes as a record. */
export function recordSize(m: Mutation): number {
  if (m.kind === 'expire') throw new RangeError('expire records are not in format 1');
  return m.kind === 'put' ? PUT_OVERHEAD + m.key.length + m.value.length : DEL_OVERHEAD + m.key.length;
}

/** Writes the 8-byte frame (length, then the CRC over length + body) for a body already in place. */
function sealRecord(buf: Buffer, at: number, bodyLen: number): void {
  buf.writeUInt32LE(bodyLen, at + 4);
  buf.writeUInt32LE(crc32(buf.subarray(at + 4, at + RECORD_FRAME_SIZE + bodyLen)), at);
}

/** Encodes a PUT or DEL into `buf` at `at` (which must have recordSize(m) bytes free). Returns the end offset. */
export function encodeMutation(buf: Buffer, at: number, m: Mutation): number {
  let p = at + RECORD_FRAME_SIZE;
  buf[p++] = m.kind === 'put' ? RecordType.PUT : RecordType.DEL;
  buf[p++] = 0; // flags
  p = writeBytes(buf, p, m.key);
  if (m.kind === 'put') p = writeBytes(buf, p, m.value);
  sealRecord(buf, at, p - at - RECORD_FRAME_SIZE);
  return p;
}

/** Encodes the END record of a snapshot holding `count` keys. */
export function encodeEnd(buf: Buffer, at: number, count: number): number {
  let p = at + RECORD_FRAME_SIZE;
  buf[p++] = RecordType.END;
  buf[p++] = 0;
  buf.writeBigUInt64LE(BigInt(count), p);
  p += 8;
  sealRecord(buf, at, p - at - RECORD_FRAME_SIZE);
  return p;
}

function writeBytes(buf: Buffer, p: number, s: ByteString): number {
  buf.writeUInt32LE(s.length, p);
  p += 4;
  if (s.length > 0) buf.write(s, p, s.length, 'latin1');
  return p + s.length;
}

export function encodeFileHeader(kind: FileKind, seq: number): Buffer {
  const buf = Buffer.alloc(FILE_HEADER_SIZE);
  buf.write(kind, 0, 'latin1');
  buf.writeUInt16LE(FORMAT_VERSION, 4);
  buf.writeUInt16LE(0, 6);
  buf.writeBigUInt64LE(BigInt(seq), 8);
  buf.writeUInt32LE(0, 16);
  buf.writeUInt32LE(crc32(buf.subarray(0, 20)), 20);
  return buf;
}

export type HeaderResult =
  | { readonly ok: true; readonly seq: number }
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
  if (buf.readUInt32LE(20) !== crc32(buf.subarray(0, 20))) {
    return { ok: false, reason: 'checksum', detail: 'the header checksum does not match' };
  }
  const version = buf.readUInt16LE(4);
  if (version > FORMAT_VERSION || buf.readUInt16LE(6) !== 0) {
    return {
      ok: false,
      reason: 'version',
      detail: `format version ${version} (flags ${buf.readUInt16LE(6)}) is newer than this server understands (${FORMAT_VERSION}); run a newer dualkv`,
    };
  }
  return { ok: true, seq: Number(buf.readBigUInt64LE(8)) };
}

export type DecodedRecord =
  | { readonly type: typeof RecordType.PUT; readonly key: ByteString; readonly value: ByteString; readonly size: number }
  | { readonly type: typeof RecordType.DEL; readonly key: ByteString; readonly size: number }
  | { readonly type: typeof RecordType.END; readonly count: number; readonly size: number };

/**
 * Why a record could not be read:
 * - `incomplete`: the bytes end before the record does (a torn tail, if nothing valid follows);
 * - `checksum`: the CRC does not match (damage, or a torn tail full of junk);
 * - `malformed`: the CRC matches but the fields do not make sense (e.g. a newer record type).
 */
export type RecordFault = { readonly fault: 'incomplete' | 'checksum' | 'malformed'; readonly detail: string };

/** Reads the record at `at`. `buf` ends where the available bytes end. Never throws on bad bytes. */
export function decodeRecord(buf: Buffer, at: number): DecodedRecord | RecordFault {
  const avail = buf.length - at;
  if (avail < RECORD_FRAME_SIZE) return { fault: 'incomplete', detail: `only ${avail} of the 8 frame bytes are present` };
  const len = buf.readUInt32LE(at + 4);
  if (len > MAX_RECORD_BODY) return { fault: 'checksum', detail: `record length ${len} is impossibly large` };
  if (avail < RECORD_FRAME_SIZE + len) {
    return { fault: 'incomplete', detail: `the record needs ${RECORD_FRAME_SIZE + len} bytes but only ${avail} are present` };
  }
  const end = at + RECORD_FRAME_SIZE + len;
  if (buf.readUInt32LE(at) !== crc32(buf.subarray(at + 4, end))) {
    return { fault: 'checksum', detail: 'the record checksum does not match' };
  }
  return decodeBody(buf, at + RECORD_FRAME_SIZE, end);
}

function decodeBody(buf: Buffer, p: number, end: number): DecodedRecord | RecordFault {
  const size = end - p + RECORD_FRAME_SIZE;
  if (end - p < 2) return malformed('the body is too short for a type and flags');
  const type = buf[p] as number;
  const flags = buf[p + 1] as number;
  p += 2;
  if ((flags & ~KNOWN_RECORD_FLAGS) !== 0) {
    return malformed(`record flags 0x${flags.toString(16)} are not known to this server; the file may come from a newer dualkv`);
  }
  if (type === RecordType.END) {
    if (end - p !== 8) return malformed('an END record must carry exactly an 8-byte count');
    return { type, count: Number(buf.readBigUInt64LE(p)), size };
  }
  if (type !== RecordType.PUT && type !== RecordType.DEL) {
    return malformed(`record type ${type} is not known to this server; the file may come from a newer dualkv`);
  }
  const key = readBytes(buf, p, end);
  if (key === null) return malformed('the key length runs past the end of the record');
  p += 4 + key.length;
  if (type === RecordType.DEL) {
    if (p !== end) return malformed('a DEL record has bytes after its key');
    return { type, key, size };
  }
  const value = readBytes(buf, p, end);
  if (value === null) return malformed('the value length runs past the end of the record');
  if (p + 4 + value.length !== end) return malformed('a PUT record has bytes after its value');
  return { type, key, value, size };
}

function readBytes(buf: Buffer, p: number, end: number): ByteString | null {
  if (end - p < 4) return null;
  const n = buf.readUInt32LE(p);
  if (n > end - p - 4) return null;
  return buf.toString('latin1', p + 4, p + 4 + n);
}

function malformed(detail: string): RecordFault {
  return { fault: 'malformed', detail };
}

export function isFault(r: DecodedRecord | RecordFault): r is RecordFault {
  return 'fault' in r;
}
