import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Mutation } from '../../src/backend/types.js';
import { crc32, decodeFileHeader, encodeEnd, encodeFileHeader, encodeMutation, END_RECORD_SIZE, FileKind, FORMAT_VERSION, recordSize, RecordType } from '../../src/persistence/formats.js';
import { blankRecord, decodeRecord, isFault, type DecodedRecord, type RecordFault } from '../../src/persistence/record-decode.js';
import { toMutation } from '../../src/persistence/replay.js';
import { del, expire, put } from './files.js';

function encode(m: Mutation): Buffer {
  const buf = Buffer.alloc(recordSize(m));
  expect(encodeMutation(buf, 0, m)).toBe(buf.length);
  return buf;
}

/** Bytes with the CRC (the first 4) filled in over the rest, as the format says. */
function sealed(bytes: number[]): Buffer {
  const b = Buffer.from(bytes);
  b.writeUInt32LE(crc32(b.subarray(4)), 0);
  return b;
}

function decoded(buf: Buffer, format?: number): DecodedRecord {
  const r = decodeRecord(buf, 0, format);
  if (isFault(r)) throw new Error(`${r.fault}: ${r.detail}`);
  return r;
}

function fault(buf: Buffer, format?: number): RecordFault {
  const r = decodeRecord(buf, 0, format);
  if (!isFault(r)) throw new Error(`decoded a record of type ${r.type}`);
  return r;
}

const backToMutation = (r: DecodedRecord): Mutation => toMutation(r, r.version);

// 2026-01-01T00:00:00.000Z = 1767225600000 ms = 0x0000019b_76daa800
const JAN_2026 = 1_767_225_600_000;

const FIXTURES: Array<{ name: string; mutation: Mutation; bytes: Buffer }> = [
  {
    name: 'PUT k=v (no expiry, no version: a format-1 record)',
    mutation: put('k', 'v'),
    bytes: sealed([
      0, 0, 0, 0, // crc32 over the rest (filled in)
      12, 0, 0, 0, // body length
      1, // type PUT
      0, // flags
      1, 0, 0, 0, 0x6b, // key length 1, "k"
      1, 0, 0, 0, 0x76, // value length 1, "v"
    ]),
  },
  {
    name: 'PUT k=v with version 7',
    mutation: put('k', 'v', 7),
    bytes: sealed([
      0, 0, 0, 0, // crc32
      20, 0, 0, 0, // body length
      1, // type PUT
      0x02, // flags: version
      1, 0, 0, 0, 0x6b, // key "k"
      1, 0, 0, 0, 0x76, // value "v"
      7, 0, 0, 0, 0, 0, 0, 0, // version 7
    ]),
  },
  {
    name: 'PUT k=v expiring at 2026-01-01, version 2^32 + 1',
    mutation: put('k', 'v', 0x1_0000_0001, JAN_2026),
    bytes: sealed([
      0, 0, 0, 0, // crc32
      28, 0, 0, 0, // body length
      1, // type PUT
      0x03, // flags: expiry, version
      1, 0, 0, 0, 0x6b, // key "k"
      1, 0, 0, 0, 0x76, // value "v"
      0x00, 0xa8, 0xda, 0x76, 0x9b, 0x01, 0, 0, // expiry 1767225600000 ms
      1, 0, 0, 0, 1, 0, 0, 0, // version 2^32 + 1 (the high word second)
    ]),
  },
  {
    name: 'PUT of an empty value and a binary key, with an expiry and no version',
    mutation: put('\x00\xff\r\n', '', 0, JAN_2026),
    bytes: sealed([
      0, 0, 0, 0, // crc32
      22, 0, 0, 0, // body length
      1, 0x01, // PUT, flags: expiry
      4, 0, 0, 0, 0x00, 0xff, 0x0d, 0x0a, // key length 4, the key
      0, 0, 0, 0, // value length 0
      0x00, 0xa8, 0xda, 0x76, 0x9b, 0x01, 0, 0, // expiry
    ]),
  },
  {
    name: 'DEL k (no version: a format-1 record)',
    mutation: del('k'),
    bytes: sealed([
      0, 0, 0, 0, // crc32
      7, 0, 0, 0, // body length
      2, // type DEL
      0, // flags
      1, 0, 0, 0, 0x6b, // key length 1, "k"
    ]),
  },
  {
    name: 'DEL k at revision 9',
    mutation: del('k', 9),
    bytes: sealed([
      0, 0, 0, 0, // crc32
      15, 0, 0, 0, // body length
      2, 0x02, // DEL, flags: version
      1, 0, 0, 0, 0x6b, // key "k"
      9, 0, 0, 0, 0, 0, 0, 0, // version 9
    ]),
  },
  {
    name: 'EXPIRE k at 2026-01-01, revision 10',
    mutation: expire('k', JAN_2026, 10),
    bytes: sealed([
      0, 0, 0, 0, // crc32
      23, 0, 0, 0, // body length
      4, 0x03, // EXPIRE, flags: expiry, version
      1, 0, 0, 0, 0x6b, // key "k"
      0x00, 0xa8, 0xda, 0x76, 0x9b, 0x01, 0, 0, // expiry
      10, 0, 0, 0, 0, 0, 0, 0, // version 10
    ]),
  },
  {
    name: 'EXPIRE k with no expiry field: a PERSIST, revision 11',
    mutation: expire('k', 0, 11),
    bytes: sealed([
      0, 0, 0, 0, // crc32
      15, 0, 0, 0, // body length
      4, 0x02, // EXPIRE, flags: version
      1, 0, 0, 0, 0x6b, // key "k"
      11, 0, 0, 0, 0, 0, 0, 0, // version 11
    ]),
  },
];

describe('log and snapshot record format', () => {
  it('encodes the known records to the documented bytes', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926); // the CRC-32 (IEEE) check value
    for (const f of FIXTURES) expect(encode(f.mutation).toString('hex'), f.name).toBe(f.bytes.toString('hex'));
  });

  it('decodes each fixture back to its mutation whole, and every prefix of it as incomplete', () => {
    for (const f of FIXTURES) {
      const r = decoded(f.bytes);
      expect(r.size, f.name).toBe(f.bytes.length);
      expect(backToMutation(r), f.name).toEqual(f.mutation);
      // Split at every boundary: the first part alone is never a record.
      for (let cut = 0; cut < f.bytes.length; cut++) {
        const part = decodeRecord(f.bytes.subarray(0, cut), 0);
        expect(isFault(part) && part.fault, `${f.name} cut at ${cut}`).toBe('incomplete');
      }
    }
  });

  it('decodes a record in the middle of a larger buffer, wherever it starts', () => {
    for (const f of FIXTURES) {
      for (const pad of [1, 3, 8]) {
        const buf = Buffer.concat([Buffer.alloc(pad, 0xee), f.bytes, Buffer.alloc(5, 0xee)]);
        const r = decodeRecord(buf.subarray(0, pad + f.bytes.length), pad);
        expect(!isFault(r) && backToMutation(r), f.name).toEqual(f.mutation);
      }
    }
  });

  it('reports a flipped bit anywhere in a record as a checksum (or length) fault, never as a record', () => {
    for (const f of FIXTURES) {
      for (let i = 0; i < f.bytes.length; i++) {
        for (const bit of [0x01, 0x80]) {
          const b = Buffer.from(f.bytes);
          b[i] = (b[i] as number) ^ bit;
          expect(isFault(decodeRecord(b, 0)), `${f.name} byte ${i} bit ${bit}`).toBe(true);
        }
      }
    }
  });

  it('refuses record types and flags it does not know, naming a newer dualkv', () => {
    const unknownType = sealed([0, 0, 0, 0, 6, 0, 0, 0, 9, 0, 0, 0, 0, 0]);
    expect(fault(unknownType)).toMatchObject({ fault: 'malformed', detail: expect.stringMatching(/type 9 .*newer dualkv/) });
    // Bits 2..7 on any type, bit 0 (expiry) on a DEL and on an END.
    const cases: Array<[string, number[]]> = [
      ['PUT bit 2', [1, 0x04, 1, 0, 0, 0, 0x6b, 0, 0, 0, 0]],
      ['PUT bit 7', [1, 0x80, 1, 0, 0, 0, 0x6b, 0, 0, 0, 0]],
      ['DEL bit 0', [2, 0x01, 1, 0, 0, 0, 0x6b, 1, 2, 3, 4, 5, 6, 7, 8]],
      ['EXPIRE bit 3', [4, 0x08, 1, 0, 0, 0, 0x6b]],
      ['END bit 0', [3, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]],
    ];
    for (const [name, body] of cases) {
      const b = sealed([0, 0, 0, 0, body.length, 0, 0, 0, ...body]);
      expect(fault(b), name).toMatchObject({ fault: 'malformed', detail: expect.stringMatching(/flags 0x[0-9a-f]+ .*newer dualkv/) });
    }
  });

  it('reads a format-1 file by format 1 rules: no flags, no EXPIRE', () => {
    expect(backToMutation(decoded(FIXTURES[0]?.bytes as Buffer, 1))).toEqual(put('k', 'v'));
    expect(fault(encode(put('k', 'v', 7)), 1).detail).toMatch(/flags 0x2 .*newer dualkv/);
    expect(fault(encode(del('k', 9)), 1).detail).toMatch(/flags 0x2/);
    expect(fault(encode(expire('k', 0, 0)), 1).detail).toMatch(/type 4 .*format-1/);
    const end = Buffer.alloc(END_RECORD_SIZE);
    expect(fault(end.subarray(0, encodeEnd(end, 0, 3, 5)), 1).detail).toMatch(/flags 0x2/);
  });

  it('refuses fields that do not match the flags, and values no writer makes', () => {
    const cases: Array<[string, number[], RegExp]> = [
      ['PUT with the version flag but no version', [1, 0x02, 1, 0, 0, 0, 0x6b, 0, 0, 0, 0], /length does not match/],
      ['PUT with bytes after its value', [1, 0, 1, 0, 0, 0, 0x6b, 0, 0, 0, 0, 0xaa], /length does not match/],
      ['DEL with a version of 0', [2, 0x02, 1, 0, 0, 0, 0x6b, 0, 0, 0, 0, 0, 0, 0, 0], /version .*positive/],
      ['EXPIRE with an expiry of 0', [4, 0x01, 1, 0, 0, 0, 0x6b, 0, 0, 0, 0, 0, 0, 0, 0], /expiry .*positive/],
      ['a version of 2^53', [2, 0x02, 1, 0, 0, 0, 0x6b, 0, 0, 0, 0, 0, 0, 0x20, 0], /version .*2\^53/],
      ['a key longer than the record', [2, 0, 9, 0, 0, 0, 0x6b], /key length runs past/],
      ['END without its revision', [3, 0x02, 1, 0, 0, 0, 0, 0, 0, 0], /END record must carry/],
    ];
    for (const [name, body, detail] of cases) {
      const b = sealed([0, 0, 0, 0, body.length, 0, 0, 0, ...body]);
      expect(fault(b), name).toMatchObject({ fault: 'malformed', detail: expect.stringMatching(detail) });
    }
  });

  it('round-trips the END record with its key count, with and without the highest revision', () => {
    const buf = Buffer.alloc(END_RECORD_SIZE);
    expect(encodeEnd(buf, 0, 123_456, 0)).toBe(18);
    expect(decoded(buf.subarray(0, 18))).toMatchObject({ type: RecordType.END, count: 123_456, version: 0, size: 18 });
    expect(encodeEnd(buf, 0, 123_456, 2 ** 53 - 1)).toBe(END_RECORD_SIZE);
    expect(decoded(buf)).toMatchObject({ type: RecordType.END, count: 123_456, version: 2 ** 53 - 1, size: END_RECORD_SIZE });
  });

  it('round-trips random mutations of every kind, with and without each optional field, one after another in one buffer', () => {
    const optional = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }));
    const key = fc.string({ unit: 'binary-ascii' });
    const mutation: fc.Arbitrary<Mutation> = fc.oneof(
      fc.record({ key, value: fc.uint8Array({ maxLength: 300 }), version: optional, expiresAt: optional }).map((m) =>
        put(m.key, Buffer.from(m.value).toString('latin1'), m.version, m.expiresAt),
      ),
      fc.record({ key, version: optional }).map((m) => del(m.key, m.version)),
      fc.record({ key, version: optional, expiresAt: optional }).map((m) => expire(m.key, m.expiresAt, m.version)),
    );
    fc.assert(
      fc.property(fc.array(mutation, { maxLength: 20 }), (ms) => {
        const buf = Buffer.alloc(ms.reduce((n, m) => n + recordSize(m), 0));
        let at = 0;
        for (const m of ms) at = encodeMutation(buf, at, m);
        expect(at).toBe(buf.length);
        // One record object for all of them, as the file reader decodes.
        const into = blankRecord();
        let p = 0;
        for (const m of ms) {
          const r = decodeRecord(buf, p, FORMAT_VERSION, into);
          if (isFault(r)) return false;
          expect(backToMutation(r)).toEqual(m);
          p += r.size;
        }
        return p === buf.length;
      }),
    );
  });

  it('never throws on random bytes, under either format: it returns a record or its own fault', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat(8), fc.constantFrom(1, 2), (bytes, at, format) => {
        const buf = Buffer.from(bytes);
        if (at > buf.length) return;
        const r = decodeRecord(buf, at, format);
        if (isFault(r)) expect(['incomplete', 'checksum', 'malformed']).toContain(r.fault);
        else expect(r.size).toBeGreaterThan(0);
      }),
      { numRuns: 5000 },
    );
  });

  it('never throws on random bodies behind a good checksum (where the field checks, not the CRC, must hold)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 40 }), fc.constantFrom(1, 2, 3, 4), fc.nat(255), fc.constantFrom(1, 2), (rest, type, flags, format) => {
        const body = [type, flags, ...rest];
        const r = decodeRecord(sealed([0, 0, 0, 0, body.length, 0, 0, 0, ...body]), 0, format);
        if (isFault(r)) expect(r.fault).toBe('malformed');
        else expect(r.type).toBe(type);
      }),
      { numRuns: 5000 },
    );
  });
});

describe('file header', () => {
  it('encodes the documented 24 bytes (format 2) and reads them back', () => {
    const h = encodeFileHeader(FileKind.LOG, 7);
    expect(h.subarray(0, 20).toString('hex')).toBe(
      Buffer.from([
        0x44, 0x4b, 0x56, 0x4c, // "DKVL"
        2, 0, // version 2
        0, 0, // flags
        7, 0, 0, 0, 0, 0, 0, 0, // segment 7
        0, 0, 0, 0, // reserved
      ]).toString('hex'),
    );
    expect(h.readUInt32LE(20)).toBe(crc32(h.subarray(0, 20)));
    expect(decodeFileHeader(h, FileKind.LOG)).toEqual({ ok: true, seq: 7, version: 2 });
  });

  it('still reads a format-1 header, and says which format it is', () => {
    expect(decodeFileHeader(encodeFileHeader(FileKind.SNAPSHOT, 3, 1), FileKind.SNAPSHOT)).toEqual({ ok: true, seq: 3, version: 1 });
  });

  it('tells a short header, the wrong kind, a bad checksum and a newer version apart', () => {
    const h = encodeFileHeader(FileKind.SNAPSHOT, 3);
    expect(decodeFileHeader(h.subarray(0, 10), FileKind.SNAPSHOT)).toMatchObject({ ok: false, reason: 'short' });
    expect(decodeFileHeader(h, FileKind.LOG)).toMatchObject({ ok: false, reason: 'magic' });
    const flipped = Buffer.from(h);
    flipped[9] = (flipped[9] as number) ^ 1;
    expect(decodeFileHeader(flipped, FileKind.SNAPSHOT)).toMatchObject({ ok: false, reason: 'checksum' });
    const r = decodeFileHeader(encodeFileHeader(FileKind.SNAPSHOT, 3, 3), FileKind.SNAPSHOT);
    expect(r).toMatchObject({ ok: false, reason: 'version' });
    expect(!r.ok && r.detail).toMatch(/format version 3 .*newer .*\(2\); run a newer dualkv/);
    expect(decodeFileHeader(encodeFileHeader(FileKind.SNAPSHOT, 3, 0), FileKind.SNAPSHOT)).toMatchObject({ ok: false, reason: 'version' });
  });
});
