import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  crc32,
  decodeFileHeader,
  decodeRecord,
  encodeEnd,
  encodeFileHeader,
  encodeMutation,
  FileKind,
  isFault,
  recordSize,
  RecordType,
} from '../../src/persistence/formats.js';
import type { Mutation } from '../../src/backend/types.js';

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

const FIXTURES: Array<{ name: string; mutation: Mutation; bytes: Buffer }> = [
  {
    name: 'PUT k=v',
    mutation: { version: 1, expiresAt: 0, kind: 'put', key: 'k', value: 'v' },
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
    name: 'DEL k',
    mutation: { version: 1, kind: 'del', key: 'k' },
    bytes: sealed([
      0, 0, 0, 0, // crc32
      7, 0, 0, 0, // body length
      2, // type DEL
      0, // flags
      1, 0, 0, 0, 0x6b, // key length 1, "k"
    ]),
  },
  {
    name: 'PUT of an empty value and a binary key',
    mutation: { version: 1, expiresAt: 0, kind: 'put', key: '\x00\xff\r\n', value: '' },
    bytes: sealed([
      0, 0, 0, 0, // crc32
      14, 0, 0, 0, // body length
      1, 0, // PUT, flags
      4, 0, 0, 0, 0x00, 0xff, 0x0d, 0x0a, // key length 4, the key
      0, 0, 0, 0, // value length 0
    ]),
  },
];

describe('log and snapshot record format', () => {
  it('encodes the known records to the documented bytes', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926); // the CRC-32 (IEEE) check value
    for (const f of FIXTURES) expect(encode(f.mutation).toString('hex'), f.name).toBe(f.bytes.toString('hex'));
  });

  it('decodes each fixture back to its mutation, and every prefix of it as incomplete', () => {
    for (const f of FIXTURES) {
      const r = decodeRecord(f.bytes, 0);
      expect(isFault(r), f.name).toBe(false);
      if (isFault(r)) continue;
      expect(r.size).toBe(f.bytes.length);
      const back = r.type === RecordType.PUT ? { version: 1, expiresAt: 0, kind: 'put', key: r.key, value: r.value } : r.type === RecordType.DEL ? { version: 1, kind: 'del', key: r.key } : null;
      expect(back).toEqual(f.mutation);
      // Split at every boundary: the first part alone is never a record.
      for (let cut = 0; cut < f.bytes.length; cut++) {
        const part = decodeRecord(f.bytes.subarray(0, cut), 0);
        expect(isFault(part) && part.fault, `${f.name} cut at ${cut}`).toBe('incomplete');
      }
    }
  });

  it('reports a flipped bit anywhere in a record as a checksum (or length) fault, never as a record', () => {
    for (const f of FIXTURES) {
      for (let i = 0; i < f.bytes.length; i++) {
        for (const bit of [0x01, 0x80]) {
          const b = Buffer.from(f.bytes);
          b[i] = (b[i] as number) ^ bit;
          const r = decodeRecord(b, 0);
          expect(isFault(r), `${f.name} byte ${i} bit ${bit}`).toBe(true);
        }
      }
    }
  });

  it('refuses record types and flags it does not know, naming a newer dualkv', () => {
    const unknownType = sealed([0, 0, 0, 0, 6, 0, 0, 0, 9, 0, 0, 0, 0, 0]);
    const r1 = decodeRecord(unknownType, 0);
    expect(isFault(r1) && r1.fault).toBe('malformed');
    expect(isFault(r1) && r1.detail).toMatch(/type 9 .*newer dualkv/);
    const unknownFlags = sealed([0, 0, 0, 0, 7, 0, 0, 0, 2, 0x01, 1, 0, 0, 0, 0x6b]);
    const r2 = decodeRecord(unknownFlags, 0);
    expect(isFault(r2) && r2.detail).toMatch(/flags 0x1 .*newer dualkv/);
  });

  it('round-trips the END record with its key count', () => {
    const buf = Buffer.alloc(18);
    expect(encodeEnd(buf, 0, 123_456)).toBe(18);
    expect(decodeRecord(buf, 0)).toEqual({ type: RecordType.END, count: 123_456, size: 18 });
  });

  it('round-trips random mutations, one after another in one buffer', () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('put' as const), key: fc.string({ unit: 'binary-ascii' }), value: fc.uint8Array({ maxLength: 300 }) }),
      fc.record({ kind: fc.constant('del' as const), key: fc.string({ unit: 'binary-ascii' }) }),
    );
    fc.assert(
      fc.property(fc.array(mutation, { maxLength: 20 }), (raw) => {
        const ms: Mutation[] = raw.map((m) =>
          m.kind === 'put' ? { version: 1, expiresAt: 0, kind: 'put', key: m.key, value: Buffer.from(m.value).toString('latin1') } : { version: 1, kind: 'del', key: m.key },
        );
        const buf = Buffer.alloc(ms.reduce((n, m) => n + recordSize(m), 0));
        let at = 0;
        for (const m of ms) at = encodeMutation(buf, at, m);
        let p = 0;
        for (const m of ms) {
          const r = decodeRecord(buf, p);
          if (isFault(r)) return false;
          const back = r.type === RecordType.PUT ? { version: 1, expiresAt: 0, kind: 'put', key: r.key, value: r.value } : r.type === RecordType.DEL ? { version: 1, kind: 'del', key: r.key } : null;
          expect(back).toEqual(m);
          p += r.size;
        }
        return p === buf.length;
      }),
    );
  });

  it('never throws on random bytes: it returns a record or its own fault', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat(8), (bytes, at) => {
        const buf = Buffer.from(bytes);
        if (at > buf.length) return;
        const r = decodeRecord(buf, at);
        if (isFault(r)) expect(['incomplete', 'checksum', 'malformed']).toContain(r.fault);
        else expect(r.size).toBeGreaterThan(0);
      }),
      { numRuns: 5000 },
    );
  });
});

describe('file header', () => {
  it('encodes the documented 24 bytes and reads them back', () => {
    const h = encodeFileHeader(FileKind.LOG, 7);
    expect(h.subarray(0, 20).toString('hex')).toBe(
      Buffer.from([
        0x44, 0x4b, 0x56, 0x4c, // "DKVL"
        1, 0, // version 1
        0, 0, // flags
        7, 0, 0, 0, 0, 0, 0, 0, // segment 7
        0, 0, 0, 0, // reserved
      ]).toString('hex'),
    );
    expect(h.readUInt32LE(20)).toBe(crc32(h.subarray(0, 20)));
    expect(decodeFileHeader(h, FileKind.LOG)).toEqual({ ok: true, seq: 7 });
  });

  it('tells a short header, the wrong kind, a bad checksum and a newer version apart', () => {
    const h = encodeFileHeader(FileKind.SNAPSHOT, 3);
    expect(decodeFileHeader(h.subarray(0, 10), FileKind.SNAPSHOT)).toMatchObject({ ok: false, reason: 'short' });
    expect(decodeFileHeader(h, FileKind.LOG)).toMatchObject({ ok: false, reason: 'magic' });
    const flipped = Buffer.from(h);
    flipped[9] = (flipped[9] as number) ^ 1;
    expect(decodeFileHeader(flipped, FileKind.SNAPSHOT)).toMatchObject({ ok: false, reason: 'checksum' });
    const newer = Buffer.from(h);
    newer.writeUInt16LE(2, 4);
    newer.writeUInt32LE(crc32(newer.subarray(0, 20)), 20);
    const r = decodeFileHeader(newer, FileKind.SNAPSHOT);
    expect(r).toMatchObject({ ok: false, reason: 'version' });
    expect(!r.ok && r.detail).toMatch(/newer dualkv/);
  });
});
