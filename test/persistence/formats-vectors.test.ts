import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Mutation, StoredKey } from '../../src/backend/types.js';
import { readRecordFile } from '../../src/persistence/file-reader.js';
import { batchSize, decodeFileHeader, encodeBatch, encodeEnd, encodeFileHeader, encodeMutation, END_RECORD_SIZE, FileKind, recordSize, RecordType } from '../../src/persistence/formats.js';
import { decodeRecord, isFault, type DecodedRecord } from '../../src/persistence/record-decode.js';
import { toMutation } from '../../src/persistence/replay.js';
import { readFormatVectors, type FormatVector } from './formats-vectors.js';
import { tempDir } from './helpers.js';

const vectors = readFormatVectors();
const TYPES = { PUT: RecordType.PUT, DEL: RecordType.DEL, END: RecordType.END, EXPIRE: RecordType.EXPIRE, BATCH: RecordType.BATCH, FLUSH: RecordType.FLUSH } as const;
type RecordMeta = Extract<FormatVector['meta'], { kind: 'record' }>;

const NAMED = ['key', 'keyHex', 'value', 'version', 'expiresAt', 'count'] as const;

/** The fields a vector's comment names: as it writes them (`expected`) and as the record has them (`got`). */
function compared(r: DecodedRecord, m: RecordMeta): { expected: Record<string, unknown>; got: Record<string, unknown> } {
  const expected: Record<string, unknown> = { type: TYPES[m.type as keyof typeof TYPES] };
  const got: Record<string, unknown> = { type: r.type };
  const actual = { ...r, keyHex: Buffer.from(r.key, 'latin1').toString('hex') };
  for (const f of NAMED) {
    if (m[f] === undefined) continue;
    expected[f] = m[f];
    got[f] = actual[f];
  }
  return { expected, got };
}

function encodeAgain(r: DecodedRecord): Buffer {
  if (r.type === RecordType.BATCH) {
    // Its records, decoded one by one within its bounds, as the file reader does.
    const inner: Mutation[] = [];
    const bounded = r.buf.subarray(0, r.valueEnd);
    for (let p = r.valueStart, i = 0; i < r.count; i++) {
      const one = decodeRecord(bounded, p);
      if (isFault(one)) throw new Error(`record ${i + 1} of the BATCH: ${one.detail}`);
      inner.push(toMutation(one, one.version));
      p += one.size;
    }
    const buf = Buffer.alloc(batchSize(inner));
    encodeBatch(buf, 0, inner);
    return buf;
  }
  if (r.type === RecordType.END) {
    const buf = Buffer.alloc(END_RECORD_SIZE);
    return buf.subarray(0, encodeEnd(buf, 0, r.count, r.version));
  }
  const m = toMutation(r, r.version);
  const buf = Buffer.alloc(recordSize(m));
  encodeMutation(buf, 0, m);
  return buf;
}

describe('docs/FORMATS.md test vectors', () => {
  const dir = tempDir();
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('has the vectors the page promises: both headers, every record type with and without its flags, END, refusals, a whole snapshot', () => {
    expect(vectors.map((v) => v.name)).toEqual(
      expect.arrayContaining([
        'log-header',
        'snapshot-header-format-1',
        'put-versioned',
        'put-with-expiry',
        'put-format-1',
        'del-versioned',
        'expire',
        'expire-persist',
        'end',
        'batch',
        'flush',
        'refused-unknown-flag',
        'refused-version-in-format-1',
        'snapshot-file',
      ]),
    );
  });

  for (const v of vectors) {
    const m = v.meta;
    if (m.kind === 'header') {
      it(`${v.name}: decodes to the header in its comment and encodes back to the same bytes`, () => {
        expect(decodeFileHeader(v.bytes, m.file)).toEqual({ ok: true, seq: m.seq, version: m.version });
        expect(encodeFileHeader(m.file, m.seq, m.version).toString('hex')).toBe(v.bytes.toString('hex'));
      });
    } else if (m.kind === 'record' && m.fault !== undefined) {
      it(`${v.name}: is refused as ${m.fault} (${m.detail ?? ''})`, () => {
        const r = decodeRecord(v.bytes, 0, m.format);
        expect(isFault(r) && { fault: r.fault, mentions: r.detail.includes(m.detail ?? '') }).toEqual({ fault: m.fault, mentions: true });
      });
    } else if (m.kind === 'record') {
      it(`${v.name}: decodes to the fields in its comment, encodes back to the same bytes, and no prefix of it is a record`, () => {
        const r = decodeRecord(v.bytes, 0, m.format);
        if (isFault(r)) throw new Error(`${r.fault}: ${r.detail}`);
        expect(r.size).toBe(v.bytes.length);
        const { expected, got } = compared(r, m);
        expect(got).toEqual(expected);
        expect(encodeAgain(r).toString('hex')).toBe(v.bytes.toString('hex'));
        for (let cut = 0; cut < v.bytes.length; cut++) {
          const part = decodeRecord(v.bytes.subarray(0, cut), 0, m.format);
          expect(isFault(part) && part.fault, `cut at ${cut}`).toBe('incomplete');
        }
      });
    } else {
      it(`${v.name}: reads as a whole snapshot with the keys, count and revision in its comment; cut short, it is corrupt`, () => {
        const file = path.join(dir, `${v.name}.kvsnap`);
        writeFileSync(file, v.bytes);
        const keys: StoredKey[] = [];
        const out = readRecordFile(file, FileKind.SNAPSHOT, (r) => keys.push({ key: r.key, value: r.value, version: r.version, expiresAt: r.expiresAt }));
        expect(out).toMatchObject({ problem: null, seq: m.seq, format: 2, endCount: m.count, endRevision: m.revision });
        expect(keys).toEqual(m.keys);
        for (let cut = 0; cut < v.bytes.length; cut++) {
          writeFileSync(file, v.bytes.subarray(0, cut));
          expect(readRecordFile(file, FileKind.SNAPSHOT, () => undefined).problem, `cut at ${cut}`).not.toBeNull();
        }
      });
    }
  }
});
