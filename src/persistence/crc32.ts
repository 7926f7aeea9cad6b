/**
 * CRC-32 (IEEE 802.3, zlib's) of a range of a buffer. Recovery checks one CRC per
 * record, a million of them for a million keys: zlib.crc32 wants the range as a Buffer
 * view of its own, and making that view and crossing into C++ cost more than the CRC
 * of a short record. So short ranges are done here, in place, by slicing-by-8 (eight
 * 256-entry tables, eight bytes a step); long ones by zlib, whose vector code wins
 * from a few hundred bytes on (measured: even at 256 bytes, ahead at 512).
 */
import { crc32 as zlibCrc32 } from 'node:zlib';

const IN_JS_BELOW = 384;

const TABLES = (() => {
  const t = new Int32Array(256 * 8);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    for (let s = 1; s < 8; s++) {
      const prev = t[(s - 1) * 256 + n] as number;
      t[s * 256 + n] = (prev >>> 8) ^ (t[prev & 0xff] as number);
    }
  }
  return t;
})();

/** CRC-32 of `buf[start..end)`, as an unsigned 32-bit number. */
export function crc32Range(buf: Uint8Array, start: number, end: number): number {
  if (end - start >= IN_JS_BELOW) return zlibCrc32(buf.subarray(start, end)) >>> 0;
  const t = TABLES;
  let c = -1;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    c ^= (buf[i] as number) | ((buf[i + 1] as number) << 8) | ((buf[i + 2] as number) << 16) | ((buf[i + 3] as number) << 24);
    c =
      (t[1792 + (c & 0xff)] as number) ^
      (t[1536 + ((c >>> 8) & 0xff)] as number) ^
      (t[1280 + ((c >>> 16) & 0xff)] as number) ^
      (t[1024 + (c >>> 24)] as number) ^
      (t[768 + (buf[i + 4] as number)] as number) ^
      (t[512 + (buf[i + 5] as number)] as number) ^
      (t[256 + (buf[i + 6] as number)] as number) ^
      (t[buf[i + 7] as number] as number);
  }
  for (; i < end; i++) c = (c >>> 8) ^ (t[(c ^ (buf[i] as number)) & 0xff] as number);
  return (c ^ -1) >>> 0;
}
