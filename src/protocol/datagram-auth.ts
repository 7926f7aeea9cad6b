import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import {
  CRC_SIZE,
  cutErrorText,
  encodeUnsealed,
  Flag,
  HEADER_SIZE,
  MIN_DATAGRAM_SIZE,
  sealDatagram,
  VERSION,
  type ReplyFields,
  type RequestFields,
  type Status,
} from './datagram.js';
import type { PartialHeader } from './datagram-error.js';
import {
  isU64,
  MAC_SIZE,
  REPLY_AUTH_SIZE,
  ReplyExtension,
  REQUEST_AUTH_SIZE,
  RequestExtension,
  replyAuthExtension,
  requestAuthExtension,
  writeU64,
  type ReplyAuth,
} from './datagram-extensions.js';

/**
 * The MAC of authenticated datagrams (docs/PROTOCOL.md "Authenticated datagrams"):
 * HMAC-SHA256 with the UDP key, truncated to its first 16 bytes, over every byte
 * the CRC covers (the magic to the last value byte) with the 16 MAC bytes taken as
 * zero. The MAC is written first and the CRC after, so the CRC still catches damage
 * before the dearer HMAC is computed. Pure: no I/O, no state.
 */

const OFF_EXT_LEN = 10;
/** Bytes an AUTH extension takes in the list: type, length, data. */
export const REQUEST_AUTH_BYTES = 2 + REQUEST_AUTH_SIZE;
export const REPLY_AUTH_BYTES = 2 + REPLY_AUTH_SIZE;

/**
 * An HMAC-SHA256 that a key is prepared for once (its padded inner and outer hash
 * states): src/frontends/udp/native/udp_batch.c's, about 0.3 µs a datagram against
 * node:crypto's 2 µs, which is mostly createHmac's set-up.
 */
export interface HmacEngine {
  hmacKey(key: Uint8Array): Buffer;
  /** The MAC of data[0, length), its first `outLength` bytes written into `out` at `outOffset`. */
  hmacSha256(prepared: Buffer, data: Uint8Array, length: number, out: Buffer, outOffset: number, outLength: number): void;
  /** True when the MAC_SIZE bytes at `macAt` are the truncated MAC of data[0, length) with those bytes taken as zero; in constant time. */
  hmacVerify(prepared: Buffer, data: Uint8Array, length: number, macAt: number): boolean;
  /** Writes that MAC into the MAC_SIZE bytes at `macAt`. */
  hmacSign(prepared: Buffer, data: Uint8Array, length: number, macAt: number): void;
}

let engine: HmacEngine | null = null;

/** Uses `e` for the keys made from now on (null: node:crypto). The MAC is the same either way. */
export function useHmacEngine(e: HmacEngine | null): void {
  engine = e;
}

/** A key made once per key: a KeyObject for node:crypto (no re-import of the bytes on each HMAC), and the engine's prepared states. */
export interface MacKey {
  readonly node: KeyObject;
  readonly prepared: Buffer | null;
  readonly engine: HmacEngine | null;
}

export function macKey(key: Uint8Array): MacKey {
  return { node: createSecretKey(key), prepared: engine?.hmacKey(key) ?? null, engine };
}

const computed = Buffer.alloc(MAC_SIZE);

/** Where the data of extension `type` starts in an encoded datagram, or -1. */
function extensionData(buf: Uint8Array, type: number): number {
  const end = HEADER_SIZE + (((buf[OFF_EXT_LEN] as number) << 8) | (buf[OFF_EXT_LEN + 1] as number));
  for (let off = HEADER_SIZE; off + 2 <= end; off += 2 + (buf[off + 1] as number)) {
    if (buf[off] === type) return off + 2;
  }
  return -1;
}

/** The truncated HMAC of data[0, end), written into `out` at `outAt`. */
function hmacInto(key: MacKey, data: Uint8Array, end: number, out: Buffer, outAt: number): void {
  if (key.prepared !== null && key.engine !== null) {
    key.engine.hmacSha256(key.prepared, data, end, out, outAt, MAC_SIZE);
    return;
  }
  const mac = createHmac('sha256', key.node).update(data.subarray(0, end)).digest();
  mac.copy(out, outAt, 0, MAC_SIZE);
}

/**
 * The truncated HMAC of `buf` whose MAC field starts at `macAt`, as if that field were
 * zero. The field is zeroed in place for the call and put back: the HMAC then hashes one
 * contiguous range. The result is a scratch buffer, valid until the next call.
 */
function computeMac(key: MacKey, buf: Uint8Array, macAt: number): Buffer {
  const saved = MAC_SAVE;
  // 16 bytes: a loop costs less than Buffer.copy and fill from here.
  for (let i = 0; i < MAC_SIZE; i++) {
    saved[i] = buf[macAt + i] as number;
    buf[macAt + i] = 0;
  }
  try {
    hmacInto(key, buf, buf.length - CRC_SIZE, computed, 0);
  } finally {
    for (let i = 0; i < MAC_SIZE; i++) buf[macAt + i] = saved[i] as number;
  }
  return computed;
}
const MAC_SAVE = new Uint8Array(MAC_SIZE);

/**
 * Fills in the MAC of the AUTH extension `type` (request or reply) of an encoded
 * datagram, at the end of its data, then rewrites the CRC. Changes `buf` in place.
 */
export function signDatagram(buf: Buffer, type: number, key: MacKey): Buffer {
  const data = extensionData(buf, type);
  if (data < 0) throw new RangeError(`the datagram carries no extension 0x${type.toString(16)} to sign`);
  const macAt = data + (buf[data - 1] as number) - MAC_SIZE;
  buf.fill(0, macAt, macAt + MAC_SIZE);
  hmacInto(key, buf, buf.length - CRC_SIZE, buf, macAt);
  return sealDatagram(buf);
}

/** True when `mac`, a view into `buf` as the decoder gives it, is the MAC of `buf` under `key`; in constant time. */
export function macMatches(buf: Uint8Array, mac: Uint8Array, key: MacKey): boolean {
  if (mac.buffer !== buf.buffer || mac.length !== MAC_SIZE) throw new RangeError('the MAC must be a view into the datagram it signs');
  const macAt = mac.byteOffset - buf.byteOffset;
  if (key.prepared !== null && key.engine !== null) return key.engine.hmacVerify(key.prepared, buf, buf.length - CRC_SIZE, macAt);
  return timingSafeEqual(computeMac(key, buf, macAt), mac);
}

/** A UDP key ready to sign with: its id in the datagram, and the key. */
export interface SigningKey {
  readonly id: number;
  readonly key: MacKey;
}

/** The fields of a request's AUTH other than the key id: the caller's. */
export interface RequestAuthFields {
  readonly sender: number;
  readonly timestamp: number;
  readonly sequence: bigint | number;
}

/*
 * The signed encoders below write header, extensions, AUTH, key and value into one
 * buffer, then the MAC into its place and the CRC once: the request and reply hot path of
 * an authenticated client and server, where encoding the AUTH extension apart and
 * signing by re-encoding cost more than the HMAC. Their bytes are those of
 * signDatagram(encode…({ extensions: [...exts, AUTH] })) (test/protocol/datagram-auth-encoders.test.ts).
 */

/**
 * Writes the AUTH extension header at `at` (its data of `size` bytes follows; the MAC,
 * zeroed, is its last 16), after encodeUnsealed reserved 2 + size bytes there.
 */
function writeAuthHeader(buf: Buffer, at: number, type: number, size: number): number {
  buf[at] = type;
  buf[at + 1] = size;
  buf.fill(0, at + 2 + size - MAC_SIZE, at + 2 + size);
  return at + 2;
}

/** Signs a datagram whose AUTH (the last extension) ends at `authEnd`, its MAC bytes zero: the MAC, then the CRC. */
function signInPlace(buf: Buffer, authEnd: number, key: MacKey): Buffer {
  if (key.prepared !== null && key.engine !== null) key.engine.hmacSign(key.prepared, buf, buf.length - CRC_SIZE, authEnd - MAC_SIZE);
  else hmacInto(key, buf, buf.length - CRC_SIZE, buf, authEnd - MAC_SIZE);
  return sealDatagram(buf);
}

/** Where the reserved AUTH extension starts: the end of the extension list, less its size. */
function authSlot(buf: Buffer, bytes: number): number {
  return HEADER_SIZE + buf.readUInt16BE(OFF_EXT_LEN) - bytes;
}

/** A request with AUTH (placed last), signed. The fields of AUTH other than the key id are the caller's. */
export function encodeSignedRequest(fields: RequestFields, auth: RequestAuthFields, key: SigningKey): Buffer {
  // Bad AUTH fields throw requestAuthExtension's own errors, first, as the two-pass encoder did.
  if (!(key.id >= 0 && key.id <= 0xffff && isU64(auth.timestamp) && isU64(auth.sequence))) requestAuthExtension({ keyId: key.id, ...auth });
  const buf = encodeUnsealed(VERSION, fields.opcode, 0, 0, fields.id, fields.key, fields.value, fields.extensions, REQUEST_AUTH_BYTES);
  const at = writeAuthHeader(buf, authSlot(buf, REQUEST_AUTH_BYTES), RequestExtension.AUTH, REQUEST_AUTH_SIZE);
  buf.writeUInt16BE(key.id, at);
  buf.writeUInt32BE(auth.sender >>> 0, at + 2);
  writeU64(buf, at + 6, auth.timestamp);
  writeU64(buf, at + 14, auth.sequence);
  return signInPlace(buf, at + REQUEST_AUTH_SIZE, key.key);
}

/** The fields of a reply's AUTH: the key id and the sequence number of the request it answers. */
export interface ReplyAuthFields {
  readonly keyId: number;
  readonly sequence: bigint;
}

function writeReplyAuth(buf: Buffer, auth: ReplyAuthFields, key: MacKey): Buffer {
  const at = writeAuthHeader(buf, authSlot(buf, REPLY_AUTH_BYTES), ReplyExtension.AUTH, REPLY_AUTH_SIZE);
  buf.writeUInt16BE(auth.keyId, at);
  buf.writeBigUInt64BE(auth.sequence, at + 2);
  return signInPlace(buf, at + REPLY_AUTH_SIZE, key);
}

const validReplyAuth = (a: ReplyAuthFields) => a.keyId >= 0 && a.keyId <= 0xffff && isU64(a.sequence);

/** A reply with AUTH (placed after its other extensions), signed: signDatagram(encodeReply(…)) in one pass. */
export function encodeSignedReply(fields: ReplyFields, auth: ReplyAuthFields, key: MacKey): Buffer {
  if (!validReplyAuth(auth)) replyAuthExtension(auth.keyId, auth.sequence);
  const buf = encodeUnsealed(fields.version ?? VERSION, fields.opcode, Flag.REPLY, fields.status, fields.id, undefined, fields.value, fields.extensions, REPLY_AUTH_BYTES);
  return writeReplyAuth(buf, auth, key);
}

/** encodeErrorReply with AUTH as its only extension, signed, in one pass; null when even the header does not fit in `maxSize`. */
export function encodeSignedErrorReply(header: PartialHeader, status: Status, text: string, maxSize: number, auth: ReplyAuthFields, key: MacKey): Buffer | null {
  if (!validReplyAuth(auth)) replyAuthExtension(auth.keyId, auth.sequence);
  const fixed = MIN_DATAGRAM_SIZE + REPLY_AUTH_BYTES;
  if (maxSize < fixed) return null;
  const buf = encodeUnsealed(VERSION, header.opcode, Flag.REPLY, status, header.id, undefined, cutErrorText(text, maxSize - fixed), undefined, REPLY_AUTH_BYTES);
  return writeReplyAuth(buf, auth, key);
}

/** True when a decoded reply carries a valid AUTH for `key`, for a request sent with a sequence number in [first, last]. */
export function replySigned(buf: Uint8Array, auth: ReplyAuth | null, key: SigningKey, first: bigint, last: bigint): boolean {
  return auth !== null && auth.keyId === key.id && auth.sequence >= first && auth.sequence <= last && macMatches(buf, auth.mac, key.key);
}
