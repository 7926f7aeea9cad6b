import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Mutation } from '../../src/backend/types.js';
import { readRecordFile } from '../../src/persistence/file-reader.js';
import { batchSize, crc32, encodeBatch, encodeFileHeader, encodeMutation, FileKind, recordSize, RecordType } from '../../src/persistence/formats.js';
import { type DecodedRecord } from '../../src/persistence/record-decode.js';
import { Replay } from '../../src/persistence/replay.js';
import { contents, segmentBytes, writeSnapshot } from './files.js';
import { tempDir } from './helpers.js';
import { TestStore } from './test-store.js';

/**
 * The BATCH record (a transaction: recovery applies all of it or none) and the FLUSH
 * record (every key deleted), as the file reader hands them on (docs/FORMATS.md §4).
 */

const before: Mutation[] = [
  { kind: 'put', key: 'kept', value: 'v', version: 1, expiresAt: 0 },
  { kind: 'put', key: 'b', value: 'old', version: 2, expiresAt: 0 },
];
const tx: Mutation[] = [
  { kind: 'put', key: 'a', value: '1', version: 3, expiresAt: 0 },
  { kind: 'del', key: 'b', version: 4 },
  { kind: 'expire', key: 'a', version: 5, expiresAt: 4_000_000_000_000 },
  { kind: 'put', key: 'c', value: 'x'.repeat(300), version: 6, expiresAt: 0 },
];

function batch(ms: readonly Mutation[]): Buffer {
  const b = Buffer.alloc(batchSize(ms));
  encodeBatch(b, 0, ms);
  return b;
}

function record(m: Mutation): Buffer {
  const b = Buffer.alloc(recordSize(m));
  encodeMutation(b, 0, m);
  return b;
}

describe('BATCH and FLUSH records in a log segment', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = tempDir();
    file = path.join(dir, 'log-000000000001.kvlog');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** Reads `bytes` as a segment into a store, as recovery does. */
  function recover(bytes: Buffer) {
    writeFileSync(file, bytes);
    const store = new TestStore();
    const replay = new Replay(store);
    const types: number[] = [];
    const out = readRecordFile(
      file,
      FileKind.LOG,
      (r: DecodedRecord) => {
        types.push(r.type);
        replay.record(r);
      },
      { values: 'bytes' },
    );
    replay.finish();
    return { out, store, types, revision: replay.revision };
  }

  const head = segmentBytes(1, before).bytes;

  it('hands on the records of a BATCH one by one, in order, as if written one after another', () => {
    const { out, store, types, revision } = recover(Buffer.concat([head, batch(tx)]));
    expect(out.problem).toBeNull();
    expect(out.records).toBe(before.length + tx.length);
    expect(types).toEqual([RecordType.PUT, RecordType.PUT, RecordType.PUT, RecordType.DEL, RecordType.EXPIRE, RecordType.PUT]);
    expect(contents(store.keys.values())).toEqual({ kept: 'v', a: '1', c: 'x'.repeat(300) });
    expect(store.keys.get('a')).toMatchObject({ version: 5, expiresAt: 4_000_000_000_000 });
    expect(revision).toBe(6);
  });

  it('a BATCH cut anywhere is a torn tail: none of it is applied, everything before it is', () => {
    const whole = Buffer.concat([head, batch(tx)]);
    for (let cut = head.length + 1; cut < whole.length; cut++) {
      const { out, store } = recover(whole.subarray(0, cut));
      expect(out.problem, `cut at ${cut}`).toMatchObject({ kind: 'torn', offset: head.length });
      expect(contents(store.keys.values()), `cut at ${cut}`).toEqual({ kept: 'v', b: 'old' });
    }
  });

  it('a damaged BATCH with good records after it is damage, not a torn tail: its own records do not count as those', () => {
    const damaged = Buffer.from(batch(tx));
    damaged.writeUInt8(damaged.readUInt8(damaged.length - 1) ^ 0x01, damaged.length - 1); // its CRC no longer matches
    const next = record({ kind: 'put', key: 'later', value: 'v', version: 7, expiresAt: 0 });
    const { out, store } = recover(Buffer.concat([head, damaged, next]));
    expect(out.problem).toMatchObject({ kind: 'corrupt', offset: head.length, nextValidOffset: head.length + damaged.length });
    expect(contents(store.keys.values())).toEqual({ kept: 'v', b: 'old' });
  });

  it('a BATCH whose CRC holds but whose records do not read is damage, and nothing of it is applied', () => {
    const inner = Buffer.concat(tx.map(record));
    inner[inner.length - 1] = 0xff; // the last record's version: its own CRC no longer matches
    const bad = Buffer.alloc(8 + 2 + 4 + inner.length);
    bad[8] = RecordType.BATCH;
    bad.writeUInt32LE(tx.length, 10);
    inner.copy(bad, 14);
    seal(bad);
    const { out, store } = recover(Buffer.concat([head, bad]));
    expect(out.problem).toMatchObject({ kind: 'corrupt', offset: head.length });
    expect(out.problem?.detail).toMatch(/record 4 of a BATCH of 4: the record checksum does not match/);
    expect(contents(store.keys.values())).toEqual({ kept: 'v', b: 'old' });

    const short = Buffer.from(batch(tx));
    short.writeUInt32LE(tx.length + 1, 10); // counts one record more than it holds
    seal(short);
    expect(recover(Buffer.concat([head, short])).out.problem?.detail).toMatch(/record 5 of a BATCH of 5/);
  });

  it('a FLUSH deletes every key before it; the keys after it stay, and its version counts', () => {
    const flush: Mutation = { kind: 'flush', version: 3 };
    const after: Mutation = { kind: 'put', key: 'new', value: 'n', version: 4, expiresAt: 0 };
    const { out, store, revision } = recover(Buffer.concat([head, record(flush), record(after)]));
    expect(out.problem).toBeNull();
    expect(contents(store.keys.values())).toEqual({ new: 'n' });
    expect(revision).toBe(4);
    // FLUSHALL inside a transaction: a FLUSH inside a BATCH.
    const inTx = recover(Buffer.concat([head, batch([flush, after])]));
    expect(contents(inTx.store.keys.values())).toEqual({ new: 'n' });
  });

  it('a BATCH or a FLUSH in a snapshot is damage', () => {
    for (const rec of [batch(tx), record({ kind: 'flush', version: 9 })]) {
      const snap = writeSnapshot(dir, 1, { k: 'v' });
      const header = encodeFileHeader(FileKind.SNAPSHOT, 1);
      writeFileSync(snap, Buffer.concat([header, rec]));
      expect(readRecordFile(snap, FileKind.SNAPSHOT, () => undefined).problem).toMatchObject({ kind: 'corrupt', offset: header.length });
    }
  });
});

/** Writes the frame of a record whose body is in place (bytes 8 on). */
function seal(rec: Buffer): void {
  rec.writeUInt32LE(rec.length - 8, 4);
  rec.writeUInt32LE(crc32(rec.subarray(4)), 0);
}
