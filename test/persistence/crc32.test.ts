import fc from 'fast-check';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { crc32Range } from '../../src/persistence/crc32.js';

describe('CRC-32 of a range of a buffer', () => {
  it('gives the check value, and 0 for nothing', () => {
    expect(crc32Range(Buffer.from('123456789'), 0, 9)).toBe(0xcbf43926);
    expect(crc32Range(Buffer.alloc(4), 2, 2)).toBe(0);
  });

  it("agrees with zlib's for any bytes and any range, short (done in place) and long (handed to zlib)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1200 }), fc.nat(), fc.nat(), (bytes, a, b) => {
        const buf = Buffer.from(bytes);
        const start = bytes.length === 0 ? 0 : a % (bytes.length + 1);
        const end = start + (b % (bytes.length - start + 1));
        expect(crc32Range(buf, start, end)).toBe(zlibCrc32(buf.subarray(start, end)) >>> 0);
      }),
      { numRuns: 2000 },
    );
  });
});
