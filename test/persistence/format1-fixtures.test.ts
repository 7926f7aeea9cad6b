/**
 * Files written by format 1 (the release before expiry and versions) still load. The
 * fixtures in test/fixtures/format1/data were made by that release's own encoder (see
 * make-format1.mjs there); what they hold is written out again here, byte for byte.
 */
import { cpSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { readRecordFile } from '../../src/persistence/file-reader.js';
import { segmentPath, snapshotPath } from '../../src/persistence/files.js';
import { decodeFileHeader, FileKind, FORMAT_VERSION } from '../../src/persistence/formats.js';
import { recoverDataDir } from '../../src/persistence/recovery.js';
import { buildSnapshot } from '../../src/persistence/snapshot-build.js';
import { LogCapture } from '../helpers/server.js';
import { put, writeSegment } from './files.js';
import { ROOT, tempDirEach } from './helpers.js';
import { TestStore } from './test-store.js';

const FIXTURES = path.join(ROOT, 'test/fixtures/format1/data');
const EVERY_BYTE = String.fromCharCode(...Array.from({ length: 256 }, (_, i) => i));

/** What the fixtures add up to: the snapshot, then the log. */
const EXPECTED: Record<string, string> = {
  alpha: 'two',
  'bin:\x00\x01\xfe\xff': EVERY_BYTE,
  empty: '',
  later: 'new value',
  '\r\n key with CRLF and spaces ': 'v\x00v',
  'empty-too': '',
};

/**
 * The versions format 1 never wrote: each record takes the next revision in file order
 * (5 snapshot records, then 6 log records, the two DELs included).
 */
const EXPECTED_VERSIONS: Record<string, number> = {
  alpha: 11,
  'bin:\x00\x01\xfe\xff': 2,
  empty: 3,
  later: 6,
  '\r\n key with CRLF and spaces ': 8,
  'empty-too': 9,
};

function recover(dir: string) {
  const store = new TestStore(Date.now());
  const logs = new LogCapture();
  const result = recoverDataDir({ dir, repair: false, store, log: pino({ level: 'debug' }, logs) });
  return { store, result, logs };
}

describe('format-1 files (the release before expiry and versions)', () => {
  const tmp = tempDirEach((dir) => cpSync(FIXTURES, dir, { recursive: true }));

  it('are what the fixture says: format-1 headers and flag-free records', () => {
    for (const name of readdirSync(FIXTURES)) {
      const kind = name.endsWith('.kvsnap') ? FileKind.SNAPSHOT : FileKind.LOG;
      expect(decodeFileHeader(readFileSync(path.join(FIXTURES, name)), kind), name).toMatchObject({ ok: true, version: 1, seq: 2 });
    }
  });

  it('load with every key and value exact, versions assigned in file order, and no expiry', () => {
    const { store, result } = recover(tmp.dir);
    expect(Object.fromEntries([...store.entries()].map((k) => [k.key, k.value]))).toEqual(EXPECTED);
    expect(Object.fromEntries([...store.entries()].map((k) => [k.key, k.version]))).toEqual(EXPECTED_VERSIONS);
    expect([...store.entries()].every((k) => k.expiresAt === 0)).toBe(true);
    expect(result).toMatchObject({ snapshot: 2, snapshotKeys: 5, logRecords: 6, revision: 11 });
    expect(store.revision).toBe(11);
  });

  it('are never appended to: the log goes on in a new segment of the current format', () => {
    const { result, logs } = recover(tmp.dir);
    expect(result.segments).toEqual([2, 3]);
    expect(result.segmentSizes.get(3)).toBe(0); // AppendLog.open writes its header
    expect(logs.lines.some((l) => l.previousFormat === 1 && l.format === FORMAT_VERSION)).toBe(true);
  });

  it('with later format-2 segments, load as one history, and fold into a format-2 snapshot that agrees', () => {
    writeSegment(tmp.dir, 3, [put('alpha', 'three', 12), put('new', 'n', 13)]);
    const before = recover(tmp.dir);
    expect(before.store.get('alpha')).toMatchObject({ value: 'three', version: 12 });
    expect(before.result.segments).toEqual([2, 3]); // the last segment is format 2: appended to

    const built = buildSnapshot({ dir: tmp.dir, base: 2, segments: [2, 3], seq: 4 });
    expect(decodeFileHeader(readFileSync(built.file), FileKind.SNAPSHOT)).toMatchObject({ ok: true, version: FORMAT_VERSION });
    const out = readRecordFile(built.file, FileKind.SNAPSHOT, () => undefined);
    expect(out.endRevision).toBe(13);
    rmSync(snapshotPath(tmp.dir, 2));
    rmSync(segmentPath(tmp.dir, 2));
    rmSync(segmentPath(tmp.dir, 3));
    const after = recover(tmp.dir);
    expect(new Map(after.store.keys)).toEqual(new Map(before.store.keys));
    expect(after.result.revision).toBe(13);
  });
});
