import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { byteStringToUtf8, bytesToString, describeKey, stringToBytes, utf8ToByteString, writeLatin1 } from '../../src/store/bytes.js';

describe('describeKey (keys as they appear in log lines and error messages)', () => {
  const table: Array<[string, string, number | undefined, string]> = [
    ['a short printable key as it is', 'greeting', undefined, 'greeting'],
    ['spaces are printable', 'a b', undefined, 'a b'],
    ['non-printable bytes as \\xHH', 'a\x00\xffb\n', undefined, 'a\\x00\\xffb\\x0a'],
    ['a backslash escaped, so that it cannot pass for an escape', 'a\\x00', undefined, 'a\\\\x00'],
    ['a key of exactly the limit, whole', 'k'.repeat(64), undefined, 'k'.repeat(64)],
    ['a longer key cut, its full length kept, in ASCII', 'k'.repeat(65), undefined, `${'k'.repeat(64)}...(65 bytes)`],
    ['a custom limit', 'abcdef', 3, 'abc...(6 bytes)'],
    ['the empty key', '', undefined, ''],
  ];
  for (const [name, key, max, shown] of table) {
    it(`shows ${name}`, () => {
      expect(describeKey(key, max)).toBe(shown);
    });
  }

  it('only ever produces printable ASCII (error replies are written as latin1)', () => {
    const every = String.fromCharCode(...Array.from({ length: 256 }, (_, i) => i));
    expect(describeKey(every, 300)).toMatch(/^[\x20-\x7e]*$/);
    expect(describeKey(every.repeat(2), 16)).toMatch(/^[\x20-\x7e]*$/);
  });
});

describe('byte strings', () => {
  it('convert to and from Buffers without loss, for every byte', () => {
    const buf = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const s = bytesToString(buf);
    expect(s.length).toBe(256);
    expect(stringToBytes(s).equals(buf)).toBe(true);
    expect(bytesToString(buf, 10, 12)).toBe('\x0a\x0b');
  });

  it('read a view into a larger buffer from its own offset', () => {
    const big = Buffer.from('xxhelloxx');
    expect(bytesToString(big.subarray(2, 7))).toBe('hello');
  });

  it('carry UTF-8 text as its bytes', () => {
    const bytes = utf8ToByteString('café');
    expect(bytes).toBe('caf\xc3\xa9');
    expect(byteStringToUtf8(bytes)).toBe('café');
  });
});

describe('writeLatin1', () => {
  it('writes the bytes Buffer#write latin1 writes, at the offset, for short and long byte strings, and answers the end (fast-check)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat({ max: 16 }), (bytes, at) => {
        const s = Buffer.from(bytes).toString('latin1');
        const mine = Buffer.alloc(at + s.length + 8, 0xee);
        const theirs = Buffer.alloc(at + s.length + 8, 0xee);
        expect(writeLatin1(mine, at, s)).toBe(at + s.length);
        theirs.write(s, at, 'latin1');
        expect(mine).toEqual(theirs);
      }),
      { numRuns: 500, seed: 1 },
    );
  });

  it('keeps the low byte of a char past 255, as Buffer#write latin1 does', () => {
    for (const s of ['\u0100\u20ac', '\u20ac'.repeat(100)]) {
      const mine = Buffer.alloc(s.length);
      writeLatin1(mine, 0, s);
      expect(mine).toEqual(Buffer.from(s, 'latin1'));
    }
  });
});
