import CRC32 from 'crc-32';
import { KvError } from '../errors.js';
import { writeLatin1, type ByteString } from '../store/bytes.js';
import { DatagramError, RejectReason, type PartialHeader } from './datagram-error.js';
import {
  NO_DETAILS,
  NO_OPTIONS,
  readReplyDetails,
  readRequestOptions,
  type Extension,
  type ReplyDetails,
  type RequestOptions,
} from './datagram-extensions.js';
import { opcodeSpec, type Opcode, type OpcodeSpec } from './datagram-opcodes.js';
import { Status } from './datagram-status.js';

export { Opcode, OPCODE_NAMES } from './datagram-opcodes.js';
export { CRITICAL_EXTENSION, ReplyExtension, RequestExtension, type Extension } from './datagram-extensions.js';
export { isErrorStatus, isRefusedStatus, REFUSALS, Status, STATUS_NAMES, statusOf, type Refusal } from './datagram-status.js';

/**
 * The UDP datagram codec (docs/PROTOCOL.md, udp section). Pure: bytes in, a
 * request or reply out, or a DatagramError. No I/O, no logging, no store.
 *
 * Every datagram, request or reply, is one header, then the extensions, the key
 * and the value, then a CRC-32 trailer:
 *
 *   0  magic "DK" (2)   2 version (1)   3 opcode (1)   4 flags (1)   5 status (1)
 *   6  request ID (4)   10 extensions length (2)   12 key length (2)
 *   14 value length (4) 18 extensions, key, value   N-4 CRC-32 of bytes 0..N-4 (4)
 *
 * All integers are big-endian. Keys and values are raw bytes.
 */

export const MAGIC_0 = 0x44; // 'D'
export const MAGIC_1 = 0x4b; // 'K'
export const VERSION = 1;
export const HEADER_SIZE = 18;
export const CRC_SIZE = 4;
/** A header and a CRC: the smallest datagram, and the size of an error reply with no message. */
export const MIN_DATAGRAM_SIZE = HEADER_SIZE + CRC_SIZE;
/** The largest UDP payload over IPv4. */
export const MAX_UDP_PAYLOAD = 65_507;
export const MAX_KEY_LENGTH = 0xffff;
export const MAX_EXTENSIONS_LENGTH = 0xffff;

// Header offsets.
const OFF_VERSION = 2;
const OFF_OPCODE = 3;
const OFF_FLAGS = 4;
const OFF_STATUS = 5;
const OFF_ID = 6;
const OFF_EXT_LEN = 10;
const OFF_KEY_LEN = 12;
const OFF_VALUE_LEN = 14;

export const Flag = {
  /** Set in replies, clear in requests. */
  REPLY: 0x01,
} as const;
const RESERVED_FLAGS = 0xff & ~Flag.REPLY;

const NO_EXTENSIONS: readonly Extension[] = Object.freeze([]);

/** Bytes to encode: a Uint8Array, or a byte string (one char per byte, see src/store/bytes.ts). */
export type Bytes = Uint8Array | ByteString;

export interface RequestFields {
  readonly opcode: Opcode;
  /** 0 to 2^32-1. */
  readonly id: number;
  readonly key?: Bytes;
  readonly value?: Bytes;
  readonly extensions?: readonly Extension[];
}

export interface ReplyFields {
  /** The request's opcode, echoed. */
  readonly opcode: number;
  readonly id: number;
  readonly status: Status;
  readonly value?: Bytes;
  readonly extensions?: readonly Extension[];
  /** Only BAD_VERSION replies set this: the highest version the server speaks. */
  readonly version?: number;
}

/** A decoded request. `key` and `value` are views into the datagram, not copies. */
export interface DatagramRequest {
  readonly opcode: Opcode;
  readonly id: number;
  readonly key: Buffer;
  readonly value: Buffer;
  readonly extensions: readonly Extension[];
  /** The extensions this opcode takes, as fields. */
  readonly options: RequestOptions;
  /** The CRC trailer: tells a retry (same bytes) from a new request that reuses an ID. */
  readonly crc: number;
  readonly size: number;
}

export interface DatagramReply {
  readonly version: number;
  readonly opcode: number;
  readonly id: number;
  readonly status: number;
  readonly value: Buffer;
  readonly extensions: readonly Extension[];
  /** VERSION and EXPIRES_AT, when the reply carries them. */
  readonly details: ReplyDetails;
}

/** docs/PROTOCOL.md, udp: the CRC-32 (IEEE 802.3, as zlib) covers every byte before the trailer. */
export function datagramCrc(buf: Uint8Array, end: number): number {
  return CRC32.buf(end === buf.length ? buf : buf.subarray(0, end)) >>> 0;
}

function extensionsLength(exts: readonly Extension[] | undefined): number {
  if (exts === undefined) return 0;
  let n = 0;
  for (const e of exts) n += 2 + e.data.length;
  return n;
}

/** The encoded size of a request or reply, without encoding it. */
export function datagramSize(fields: { key?: Bytes; value?: Bytes; extensions?: readonly Extension[] }): number {
  return MIN_DATAGRAM_SIZE + extensionsLength(fields.extensions) + (fields.key?.length ?? 0) + (fields.value?.length ?? 0);
}

function writeBytes(buf: Buffer, off: number, b: Bytes): number {
  if (typeof b === 'string') return writeLatin1(buf, off, b);
  buf.set(b, off);
  return off + b.length;
}

/**
 * Every byte of a datagram but its CRC, with `reserved` bytes left at the end of the
 * extension list (counted in its length) for the caller to fill: the AUTH extension,
 * which datagram-auth.ts writes and signs in the same buffer. The last 4 bytes are the
 * CRC's, for sealDatagram.
 */
export function encodeUnsealed(
  version: number,
  opcode: number,
  flags: number,
  status: number,
  id: number,
  key: Bytes | undefined,
  value: Bytes | undefined,
  exts: readonly Extension[] | undefined,
  reserved = 0,
): Buffer {
  if (!Number.isInteger(id) || id < 0 || id > 0xffffffff) throw new RangeError(`request ID ${id} is not a 32-bit unsigned integer`);
  const keyLen = key?.length ?? 0;
  const valueLen = value?.length ?? 0;
  const extLen = extensionsLength(exts) + reserved;
  if (keyLen > MAX_KEY_LENGTH) {
    throw new KvError('DATAGRAM_TOO_LARGE', `key of ${keyLen} bytes cannot be sent in a datagram (at most ${MAX_KEY_LENGTH}); use TCP`);
  }
  if (extLen > MAX_EXTENSIONS_LENGTH) throw new RangeError(`extensions of ${extLen} bytes are over ${MAX_EXTENSIONS_LENGTH}`);
  const size = MIN_DATAGRAM_SIZE + extLen + keyLen + valueLen;
  const buf = Buffer.allocUnsafe(size);
  buf[0] = MAGIC_0;
  buf[1] = MAGIC_1;
  buf[OFF_VERSION] = version;
  buf[OFF_OPCODE] = opcode;
  buf[OFF_FLAGS] = flags;
  buf[OFF_STATUS] = status;
  buf.writeUInt32BE(id, OFF_ID);
  buf.writeUInt16BE(extLen, OFF_EXT_LEN);
  buf.writeUInt16BE(keyLen, OFF_KEY_LEN);
  buf.writeUInt32BE(valueLen, OFF_VALUE_LEN);
  let off = HEADER_SIZE;
  if (exts !== undefined) {
    for (const e of exts) {
      if (e.data.length > 0xff) throw new RangeError(`extension 0x${e.type.toString(16)} has ${e.data.length} bytes; at most 255`);
      buf[off++] = e.type;
      buf[off++] = e.data.length;
      buf.set(e.data, off);
      off += e.data.length;
    }
  }
  off += reserved;
  if (key !== undefined) off = writeBytes(buf, off, key);
  if (value !== undefined) writeBytes(buf, off, value);
  return buf;
}

/** Writes the CRC trailer of a datagram whose other bytes are final. */
export function sealDatagram(buf: Buffer): Buffer {
  const end = buf.length - CRC_SIZE;
  buf.writeUInt32BE(datagramCrc(buf, end), end);
  return buf;
}

function encode(
  version: number,
  opcode: number,
  flags: number,
  status: number,
  id: number,
  key: Bytes | undefined,
  value: Bytes | undefined,
  exts: readonly Extension[] | undefined,
): Buffer {
  return sealDatagram(encodeUnsealed(version, opcode, flags, status, id, key, value, exts));
}

export function encodeRequest(f: RequestFields): Buffer {
  return encode(VERSION, f.opcode, 0, 0, f.id, f.key, f.value, f.extensions);
}

export function encodeReply(f: ReplyFields): Buffer {
  return encode(f.version ?? VERSION, f.opcode, Flag.REPLY, f.status, f.id, undefined, f.value, f.extensions);
}

/**
 * An error reply that is never larger than `maxSize` (docs/PROTOCOL.md, udp
 * "Amplification": the size of the datagram that caused it). The value is
 * `CODE message` as UTF-8, cut to fit at a character boundary, down to nothing
 * (the status alone); below MIN_DATAGRAM_SIZE no reply can be made (null).
 */
export function encodeErrorReply(
  header: PartialHeader,
  status: Status,
  text: string,
  maxSize: number,
  version = VERSION,
  extensions?: readonly Extension[],
): Buffer | null {
  const fixed = MIN_DATAGRAM_SIZE + extensionsLength(extensions);
  if (maxSize < fixed) return null;
  return encode(version, header.opcode, Flag.REPLY, status, header.id, undefined, cutErrorText(text, maxSize - fixed), extensions);
}

/** An error reply's text as UTF-8, cut to at most `room` bytes at a character boundary. */
export function cutErrorText(text: string, room: number): Buffer {
  const value = Buffer.from(text, 'utf8');
  if (value.length <= room) return value;
  let end = room;
  // Back off over continuation bytes (10xxxxxx) so no character is cut in half.
  while (end > 0 && ((value[end] as number) & 0xc0) === 0x80) end--;
  return value.subarray(0, end);
}

function fail(reason: RejectReason, message: string, header: PartialHeader | null = null): never {
  throw new DatagramError(reason, message, header);
}

/** Check 10's framing: type, length, data, to the end of the list. What each type means is datagram-extensions.ts's. */
function parseExtensions(buf: Buffer, start: number, end: number, header: PartialHeader): readonly Extension[] {
  if (start === end) return NO_EXTENSIONS;
  const out: Extension[] = [];
  let off = start;
  while (off < end) {
    if (off + 2 > end) fail(RejectReason.BAD_EXTENSION, 'extension list ends inside an extension header', header);
    const type = buf[off] as number;
    const len = buf[off + 1] as number;
    if (off + 2 + len > end) fail(RejectReason.BAD_EXTENSION, `extension 0x${type.toString(16)} runs past the extension list`, header);
    out.push({ type, data: buf.subarray(off + 2, off + 2 + len) });
    off += 2 + len;
  }
  return out;
}

interface Frame {
  readonly version: number;
  readonly opcode: number;
  readonly status: number;
  readonly id: number;
  readonly key: Buffer;
  readonly value: Buffer;
  readonly extensions: readonly Extension[];
  readonly crc: number;
}

/**
 * The checks, in the order docs/PROTOCOL.md lists them. The CRC is checked right
 * after the magic: every version keeps the magic in front and the CRC at the end,
 * so damage anywhere is reported as damage (bad_checksum), and every later
 * refusal describes bytes the sender really sent.
 */
function decodeFrame(buf: Buffer, wantReply: boolean, maxSize: number, wireSize: number): Frame {
  const n = buf.length;
  const magicOk = n >= 2 && buf[0] === MAGIC_0 && buf[1] === MAGIC_1;
  // The header a refusal reports; built only on the way out, off the hot path.
  const h = (): PartialHeader | null => (magicOk && n >= OFF_ID + 4 ? { id: buf.readUInt32BE(OFF_ID), opcode: buf[OFF_OPCODE] as number } : null);
  if (n < MIN_DATAGRAM_SIZE) fail(RejectReason.TRUNCATED, `datagram of ${n} bytes is shorter than the ${MIN_DATAGRAM_SIZE}-byte minimum`, h());
  if (wireSize > maxSize) fail(RejectReason.OVERSIZE, `datagram of ${wireSize} bytes is over the ${maxSize}-byte limit; use TCP for large values`, h());
  if (!magicOk) fail(RejectReason.BAD_MAGIC, 'datagram does not start with the magic "DK"');
  const crc = buf.readUInt32BE(n - CRC_SIZE);
  if (datagramCrc(buf, n - CRC_SIZE) !== crc) fail(RejectReason.BAD_CHECKSUM, 'CRC-32 mismatch: the datagram was damaged in transit; resend it', h());
  const version = buf[OFF_VERSION] as number;
  const flags = buf[OFF_FLAGS] as number;
  const status = buf[OFF_STATUS] as number;
  const isReply = (flags & Flag.REPLY) !== 0;
  // docs/PROTOCOL.md, udp: a BAD_VERSION reply keeps the v1 layout but names the server's own version.
  if (version !== VERSION && !(wantReply && isReply && status === Status.BAD_VERSION)) {
    fail(RejectReason.BAD_VERSION, `protocol version ${version} is not supported; this side speaks version ${VERSION}`, h());
  }
  if (isReply !== wantReply) fail(RejectReason.WRONG_DIRECTION, wantReply ? 'a request where a reply was expected' : 'a reply where a request was expected', h());
  if ((flags & RESERVED_FLAGS) !== 0) fail(RejectReason.BAD_HEADER, `reserved flag bits 0x${(flags & RESERVED_FLAGS).toString(16)} are set`, h());
  if (!wantReply && status !== 0) fail(RejectReason.BAD_HEADER, `a request must carry status 0, not 0x${status.toString(16)}`, h());
  const extLen = buf.readUInt16BE(OFF_EXT_LEN);
  const keyLen = buf.readUInt16BE(OFF_KEY_LEN);
  const valueLen = buf.readUInt32BE(OFF_VALUE_LEN);
  const expected = MIN_DATAGRAM_SIZE + extLen + keyLen + valueLen;
  if (expected > n) fail(RejectReason.TRUNCATED, `the header's lengths need ${expected} bytes but the datagram has ${n}`, h());
  if (expected < n) fail(RejectReason.TRAILING, `${n - expected} bytes follow the value; the header's lengths account for ${expected}`, h());
  const opcode = buf[OFF_OPCODE] as number;
  if (!wantReply && opcodeSpec(opcode) === undefined) fail(RejectReason.UNKNOWN_OPCODE, `opcode 0x${opcode.toString(16)} is not known`, h());
  const id = buf.readUInt32BE(OFF_ID);
  const keyStart = HEADER_SIZE + extLen;
  const valueStart = keyStart + keyLen;
  return {
    version,
    opcode,
    status,
    id,
    extensions: extLen === 0 ? NO_EXTENSIONS : parseExtensions(buf, HEADER_SIZE, keyStart, { id, opcode }),
    key: buf.subarray(keyStart, valueStart),
    value: buf.subarray(valueStart, valueStart + valueLen),
    crc,
  };
}

/**
 * Decodes a request, or throws DatagramError saying why it is refused. `maxSize`
 * is the largest datagram accepted (--max-datagram-size). `wireSize` is the
 * datagram's size on the wire when `buf` holds only its first bytes (a socket
 * that reads into fixed slots cuts an oversize datagram short).
 */
export function decodeRequest(buf: Buffer, maxSize: number = MAX_UDP_PAYLOAD, wireSize: number = buf.length): DatagramRequest {
  const f = decodeFrame(buf, false, maxSize, wireSize);
  const spec = opcodeSpec(f.opcode) as OpcodeSpec; // decodeFrame refused unknown opcodes
  const h = { id: f.id, opcode: spec.code };
  const options = f.extensions.length === 0 ? NO_OPTIONS : readRequestOptions(f.extensions, spec.extensions, spec.name, h);
  // The shape of each opcode (docs/PROTOCOL.md, udp "Opcodes").
  if (spec.value === 'forbidden' && f.value.length > 0) fail(RejectReason.BAD_ARGUMENTS, `${spec.name} takes no value`, h);
  if (spec.key === 'forbidden' && f.key.length > 0) fail(RejectReason.BAD_ARGUMENTS, `${spec.name} takes no key`, h);
  return { opcode: spec.code, id: f.id, key: f.key, value: f.value, extensions: f.extensions, options, crc: f.crc, size: buf.length };
}

/** Decodes a reply, or throws DatagramError. A v1 reply carries no key; one that does is refused. */
export function decodeReply(buf: Buffer, maxSize: number = MAX_UDP_PAYLOAD): DatagramReply {
  const f = decodeFrame(buf, true, maxSize, buf.length);
  const h = { id: f.id, opcode: f.opcode };
  const details = f.extensions.length === 0 ? NO_DETAILS : readReplyDetails(f.extensions, h);
  if (f.key.length > 0) fail(RejectReason.BAD_ARGUMENTS, 'a reply carries no key', h);
  return { version: f.version, opcode: f.opcode, id: f.id, status: f.status, value: f.value, extensions: f.extensions, details };
}
