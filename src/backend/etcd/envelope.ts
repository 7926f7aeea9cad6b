import { bytesToString, type ByteString } from '../../store/bytes.js';

/**
 * A value as the etcd backend stores it (docs/FORMATS.md "etcd values"): one tag byte,
 * then, for a key with an expiry, the absolute expiry in ms as 8 bytes big-endian, then
 * the value's bytes. The lease that deletes the key runs up to two seconds late (keys that
 * expire in the same second share one), so reads compare the exact time kept here.
 */
const TAG_PLAIN = 0x00;
const TAG_EXPIRES = 0x01;

export function encodeValue(value: ByteString, expiresAt: number): Buffer {
  const head = expiresAt > 0 ? 9 : 1;
  const buf = Buffer.allocUnsafe(head + value.length);
  if (expiresAt > 0) {
    buf[0] = TAG_EXPIRES;
    buf.writeUInt32BE(Math.floor(expiresAt / 2 ** 32), 1);
    buf.writeUInt32BE(expiresAt % 2 ** 32, 5);
  } else buf[0] = TAG_PLAIN;
  buf.write(value, head, 'latin1');
  return buf;
}

export interface StoredValue {
  readonly value: ByteString;
  readonly expiresAt: number;
}

/** The value and expiry of a stored value; null when the bytes are not one (a key written to etcd by something else). */
export function decodeValue(buf: Buffer): StoredValue | null {
  if (buf.length >= 1 && buf[0] === TAG_PLAIN) return { value: bytesToString(buf, 1), expiresAt: 0 };
  if (buf.length >= 9 && buf[0] === TAG_EXPIRES) {
    return { value: bytesToString(buf, 9), expiresAt: buf.readUInt32BE(1) * 2 ** 32 + buf.readUInt32BE(5) };
  }
  return null;
}
