/**
 * How the memory backend holds a key's value, version and expiry: in one latin1
 * string (src/store/bytes.ts), a small header and then the value.
 *
 * ```
 * 0     1 byte   flags: bit 0 set when an expiry follows the version
 * 1     7 bytes  version, big-endian (versions stay below 2^53)
 * 8     8 bytes  expiry, ms since the epoch, big-endian (only with flag bit 0)
 * 8|16  …        the value
 * ```
 *
 * One string rather than an object or side arrays per key, because memory per key
 * is what a cache is sized by: an object `{value, version, expiresAt}` costs about
 * 40 bytes a key more, parallel typed arrays indexed by a slot about 24 (measured
 * at 1M keys of 100 bytes), this header 8 (16 with an expiry). Strings are
 * immutable, so a write builds a new one: `[header, value].join('')` makes a flat
 * string in one copy (a `+` would leave a cons string, which costs more memory).
 */
import type { ByteString } from '../../store/bytes.js';

const HAS_EXPIRY = 0x01;
export const HEADER = 8;
export const HEADER_WITH_EXPIRY = 16;
const TWO_32 = 0x1_0000_0000;

function versionChars(version: number): [number, number, number, number, number, number, number] {
  const hi = Math.floor(version / TWO_32);
  const lo = version >>> 0;
  return [(hi >>> 16) & 0xff, (hi >>> 8) & 0xff, hi & 0xff, lo >>> 24, (lo >>> 16) & 0xff, (lo >>> 8) & 0xff, lo & 0xff];
}

/** The stored string for a value, its version and its expiry (0: none). */
export function encodeStored(value: ByteString, version: number, expiresAt: number): string {
  const [v1, v2, v3, v4, v5, v6, v7] = versionChars(version);
  if (expiresAt === 0) return [String.fromCharCode(0, v1, v2, v3, v4, v5, v6, v7), value].join('');
  const hi = Math.floor(expiresAt / TWO_32);
  const lo = expiresAt - hi * TWO_32;
  const header = String.fromCharCode(
    HAS_EXPIRY,
    v1,
    v2,
    v3,
    v4,
    v5,
    v6,
    v7,
    hi >>> 24,
    (hi >>> 16) & 0xff,
    (hi >>> 8) & 0xff,
    hi & 0xff,
    lo >>> 24,
    (lo >>> 16) & 0xff,
    (lo >>> 8) & 0xff,
    lo & 0xff,
  );
  return [header, value].join('');
}

const latin1Slice = Buffer.prototype.latin1Slice;

/**
 * The stored string for a value given as bytes [start, end) of `bytes` (recovery),
 * made by writing the header into the bytes just before the value and reading header
 * and value out as one string: one allocation and one copy a key, where encodeStored
 * over the value's string takes two of each (Buffer.copy into a scratch buffer costs
 * more than the string it saves, for values this small). The caller must allow the
 * 16 bytes before `start` to be overwritten (DurableStore.recoverPut says why a reader may).
 */
export function storedInPlace(bytes: Buffer, start: number, end: number, version: number, expiresAt: number): string {
  const h = expiresAt === 0 ? HEADER : HEADER_WITH_EXPIRY;
  const at = start - h;
  const hi = Math.floor(version / TWO_32);
  bytes[at] = expiresAt === 0 ? 0 : HAS_EXPIRY;
  bytes[at + 1] = (hi >>> 16) & 0xff;
  bytes[at + 2] = (hi >>> 8) & 0xff;
  bytes[at + 3] = hi & 0xff;
  bytes.writeUInt32BE(version >>> 0, at + 4);
  if (expiresAt !== 0) {
    const ehi = Math.floor(expiresAt / TWO_32);
    bytes.writeUInt32BE(ehi, at + 8);
    bytes.writeUInt32BE(expiresAt - ehi * TWO_32, at + 12);
  }
  return latin1Slice.call(bytes, at, end);
}

export function hasExpiry(stored: string): boolean {
  return (stored.charCodeAt(0) & HAS_EXPIRY) !== 0;
}

export function storedVersion(s: string): number {
  const hi = (s.charCodeAt(1) << 16) | (s.charCodeAt(2) << 8) | s.charCodeAt(3);
  const lo = ((s.charCodeAt(4) << 24) | (s.charCodeAt(5) << 16) | (s.charCodeAt(6) << 8) | s.charCodeAt(7)) >>> 0;
  return hi * TWO_32 + lo;
}

/** The expiry (ms since the epoch), or 0 for none. */
export function storedExpiry(s: string): number {
  if ((s.charCodeAt(0) & HAS_EXPIRY) === 0) return 0;
  const hi = ((s.charCodeAt(8) << 24) | (s.charCodeAt(9) << 16) | (s.charCodeAt(10) << 8) | s.charCodeAt(11)) >>> 0;
  const lo = ((s.charCodeAt(12) << 24) | (s.charCodeAt(13) << 16) | (s.charCodeAt(14) << 8) | s.charCodeAt(15)) >>> 0;
  return hi * TWO_32 + lo;
}

export function storedValue(s: string): ByteString {
  return s.slice((s.charCodeAt(0) & HAS_EXPIRY) !== 0 ? HEADER_WITH_EXPIRY : HEADER);
}

/** Bytes of the value alone. */
export function storedValueLength(s: string): number {
  return s.length - ((s.charCodeAt(0) & HAS_EXPIRY) !== 0 ? HEADER_WITH_EXPIRY : HEADER);
}
