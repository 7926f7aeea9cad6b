import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import { CRC_SIZE, datagramCrc, encodeRequest, HEADER_SIZE, type RequestFields } from './datagram.js';
import { MAC_SIZE, RequestExtension, requestAuthExtension, type ReplyAuth } from './datagram-extensions.js';

/**
 * The MAC of authenticated datagrams (docs/PROTOCOL.md "Authenticated datagrams"):
 * HMAC-SHA256 with the UDP key, truncated to its first 16 bytes, over every byte
 * the CRC covers (the magic to the last value byte) with the 16 MAC bytes taken as
 * zero. The MAC is written first and the CRC after, so the CRC still catches damage
 * before the dearer HMAC is computed. Pure: no I/O, no state.
 */

const ZERO_MAC = Buffer.alloc(MAC_SIZE);
const OFF_EXT_LEN = 10;

/**
 * An HMAC-SHA256 that a key is prepared for once (its padded inner and outer hash
 * states): src/frontends/native/udp_batch.c's, about 0.3 µs a datagram against
 * node:crypto's 2 µs, which is mostly createHmac's set-up.
 */
export interface HmacEngine {
  hmacKey(key: Uint8Array): Buffer;
  /** The MAC of data[0, length), its first `outLength` bytes written into `out` at `outOffset`. */
  hmacSha256(prepared: Buffer, data: Uint8Array, length: number, out: Buffer, outOffset: number, outLength: number): void;
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

const saved = Buffer.alloc(MAC_SIZE);
const computed = Buffer.alloc(MAC_SIZE);

/** Where the data of extension `type` starts in an encoded datagram, or -1. */
function extensionData(buf: Uint8Array, type: number): number {
  const view = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const end = HEADER_SIZE + view.readUInt16BE(OFF_EXT_LEN);
  for (let off = HEADER_SIZE; off + 2 <= end; off += 2 + (view[off + 1] as number)) {
    if (view[off] === type) return off + 2;
  }
  return -1;
}

/**
 * The truncated HMAC of `buf` whose MAC field starts at `macAt`, as if that field were
 * zero. With an engine the field is zeroed in place for the call and put back: the
 * engine hashes one contiguous range. The result is a scratch buffer, valid until the next call.
 */
function computeMac(key: MacKey, buf: Uint8Array, macAt: number): Buffer {
  if (key.prepared !== null && key.engine !== null) {
    const view = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    view.copy(saved, 0, macAt, macAt + MAC_SIZE);
    view.fill(0, macAt, macAt + MAC_SIZE);
    try {
      key.engine.hmacSha256(key.prepared, view, view.length - CRC_SIZE, computed, 0, MAC_SIZE);
    } finally {
      saved.copy(view, macAt);
    }
    return computed;
  }
  return createHmac('sha256', key.node)
    .update(buf.subarray(0, macAt))
    .update(ZERO_MAC)
    .update(buf.subarray(macAt + MAC_SIZE, buf.length - CRC_SIZE))
    .digest()
    .subarray(0, MAC_SIZE);
}

/**
 * Fills in the MAC of the AUTH extension `type` (request or reply) of an encoded
 * datagram, at the end of its data, then rewrites the CRC. Changes `buf` in place.
 */
export function signDatagram(buf: Buffer, type: number, key: MacKey): Buffer {
  const data = extensionData(buf, type);
  if (data < 0) throw new RangeError(`the datagram carries no extension 0x${type.toString(16)} to sign`);
  const macAt = data + (buf[data - 1] as number) - MAC_SIZE;
  buf.fill(0, macAt, macAt + MAC_SIZE);
  computeMac(key, buf, macAt).copy(buf, macAt);
  buf.writeUInt32BE(datagramCrc(buf, buf.length - CRC_SIZE), buf.length - CRC_SIZE);
  return buf;
}

/** True when `mac`, a view into `buf` as the decoder gives it, is the MAC of `buf` under `key`; in constant time. */
export function macMatches(buf: Uint8Array, mac: Uint8Array, key: MacKey): boolean {
  if (mac.buffer !== buf.buffer || mac.length !== MAC_SIZE) throw new RangeError('the MAC must be a view into the datagram it signs');
  const macAt = mac.byteOffset - buf.byteOffset;
  return timingSafeEqual(computeMac(key, buf, macAt), mac);
}

/** A UDP key ready to sign with: its id in the datagram, and the key. */
export interface SigningKey {
  readonly id: number;
  readonly key: MacKey;
}

/** A request with AUTH (placed last), signed. The fields of AUTH other than the key id are the caller's. */
export function encodeSignedRequest(fields: RequestFields, auth: { sender: number; timestamp: number; sequence: bigint | number }, key: SigningKey): Buffer {
  const extensions = [...(fields.extensions ?? []), requestAuthExtension({ keyId: key.id, ...auth })];
  return signDatagram(encodeRequest({ ...fields, extensions }), RequestExtension.AUTH, key.key);
}

/** True when a decoded reply carries a valid AUTH for `key`, for a request sent with a sequence number in [first, last]. */
export function replySigned(buf: Uint8Array, auth: ReplyAuth | null, key: SigningKey, first: bigint, last: bigint): boolean {
  return auth !== null && auth.keyId === key.id && auth.sequence >= first && auth.sequence <= last && macMatches(buf, auth.mac, key.key);
}
