import type { ByteString } from '../../store/bytes.js';

/**
 * docs/HTTP.md §2, "Keys in URLs": a key is the rest of the path after `/v1/kv/`,
 * percent-decoded byte by byte. Every byte may be written `%XX`; bytes other than `%`
 * may also be written as themselves (so `/` in a key may stay `/`, or be `%2F`: the same
 * key). `+` is a plus, not a space. The bytes are the key as the other front-ends see
 * it (a latin1 byte string), whether or not they are UTF-8.
 */

const HEX = /^[0-9a-fA-F]{2}$/;

/** The key a path part names, or null when a `%` is not followed by two hex digits. */
export function decodeKeyPath(part: string): ByteString | null {
  // node:http hands the request line over as latin1: one char a byte, as keys are.
  if (!part.includes('%')) return part;
  let out = '';
  for (let i = 0; i < part.length; i++) {
    const c = part[i] as string;
    if (c !== '%') {
      out += c;
      continue;
    }
    const hex = part.slice(i + 1, i + 3);
    if (!HEX.test(hex)) return null;
    out += String.fromCharCode(parseInt(hex, 16));
    i += 2;
  }
  return out;
}

/** Unreserved bytes (RFC 3986 §2.3) and `/` go as they are; every other byte as `%XX`. */
export function encodeKeyPath(key: ByteString): string {
  let out = '';
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    const unreserved = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2d || c === 0x2e || c === 0x5f || c === 0x7e || c === 0x2f;
    out += unreserved ? key[i] : '%' + c.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}
