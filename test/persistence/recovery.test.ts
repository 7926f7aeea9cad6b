import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { KvError } from '../../src/errors.js';
import { readRecordFile } from '../../src/persistence/file-reader.js';
import { segmentName, segmentPath, snapshotName, snapshotPath } from '../../src/persistence/files.js';
import { FileKind } from '../../src/persistence/formats.js';
import { recoverDataDir } from '../../src/persistence/recovery.js';
import { LogCapture, startTestServer } from '../helpers/server.js';
import { contents, del, put, puts, writeSegment, writeSnapshot } from './files.js';
import { requireFreshBuild, spawnExpectingFailure, tempDir } from './helpers.js';
import { TestStore } from './test-store.js';

function recover(dir: string, repair = false) {
  const logs = new LogCapture();
  const store = new TestStore();
  const result = recoverDataDir({ dir, repair, store, log: pino({ level: 'debug' }, logs) });
  return { result, store, logs };
}

function expectCorrupt(fn: () => unknown): KvError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(KvError);
    expect((err as KvError).code).toBe('DATA_CORRUPT');
    return err as KvError;
  }
  throw new Error('expected DATA_CORRUPT');
}

describe('recovery from the files in the data directory', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('starts empty on an empty directory, with segment 1 to append to', () => {
    const { result, store } = recover(dir);
    expect(store.size).toBe(0);
    expect(result.segments).toEqual([1]);
    expect(result.segmentSizes.get(1)).toBe(0);
  });

  it('loads the snapshot, then replays the segments after it in order (DEL and overwrite included)', () => {
    writeSnapshot(dir, 3, { a: 'from-snapshot', b: 'b0', c: 'c0' });
    writeSegment(dir, 3, [put('a', 'a1'), del('b')]);
    writeSegment(dir, 4, [put('a', 'a2'), put('d', 'd0')]);
    const { result, store } = recover(dir);
    expect(contents(store.entries())).toEqual({ a: 'a2', c: 'c0', d: 'd0' });
    expect(result).toMatchObject({ snapshot: 3, segments: [3, 4], snapshotKeys: 3, logRecords: 4, tornBytes: 0, repaired: false });
  });

  it('cuts a torn tail off the last segment with a warning that says how many bytes were dropped', () => {
    const seg = writeSegment(dir, 1, puts('k', 5));
    const last = seg.offsets.at(-1) as number;
    writeFileSync(seg.file, seg.bytes.subarray(0, last + 7));
    const { result, store, logs } = recover(dir);
    expect(store.size).toBe(4);
    expect(result.tornBytes).toBe(7);
    const warn = logs.lines.find((l) => l.bytesDropped === 7);
    expect(warn?.msg).toMatch(/torn by a crash.*cut off 7 bytes/);
    expect(statSync(seg.file).size).toBe(last); // cut on disk, so appends follow the last good record
  });

  it('refuses a flipped byte in the middle of the log, naming the file, the offset and --repair', () => {
    const seg = writeSegment(dir, 1, puts('k', 10));
    const bad = seg.offsets[4] as number;
    const b = Buffer.from(seg.bytes);
    b[bad + 12] = (b[bad + 12] as number) ^ 0xff;
    writeFileSync(seg.file, b);
    const err = expectCorrupt(() => recover(dir));
    expect(err.message).toContain(seg.file);
    expect(err.message).toContain(`offset ${bad}`);
    expect(err.message).toContain('--repair');
    expect(err.message).toMatch(/damage, not a torn tail/);
    expect(readFileSync(seg.file).equals(b)).toBe(true); // refusing changes nothing
  });

  it('--repair keeps a backup, truncates at the last good record and drops later segments', () => {
    const seg = writeSegment(dir, 1, puts('k', 10));
    writeSegment(dir, 2, puts('later', 3));
    const bad = seg.offsets[4] as number;
    const damaged = Buffer.from(seg.bytes);
    damaged[bad + 12] = (damaged[bad + 12] as number) ^ 0xff;
    writeFileSync(seg.file, damaged);
    const { result, store } = recover(dir, true);
    expect([...store.entries()].map((k) => k.key).sort()).toEqual(['k0', 'k1', 'k2', 'k3']);
    expect(result.repaired).toBe(true);
    expect(result.segments).toEqual([1]);
    expect(statSync(seg.file).size).toBe(bad);
    const backups = readdirSync(dir).filter((n) => n.startsWith('repair-backup-'));
    expect(backups).toHaveLength(1);
    const kept = path.join(dir, backups[0] as string);
    expect(readFileSync(path.join(kept, segmentName(1))).equals(damaged)).toBe(true);
    expect(existsSync(path.join(kept, segmentName(2)))).toBe(true);
    expect(existsSync(segmentPath(dir, 2))).toBe(false);
    // And the repaired directory now starts cleanly.
    expect(recover(dir).store.size).toBe(4);
  });

  it('refuses a corrupt snapshot; --repair loads every readable record and rewrites it', () => {
    const entries = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`key${i}`, `value${i}`]));
    const file = writeSnapshot(dir, 2, entries);
    writeSegment(dir, 2, [put('after', 'x')]);
    const b = readFileSync(file);
    b[24 + 30 * 3] = (b[24 + 30 * 3] as number) ^ 0x01; // inside a record in the middle
    writeFileSync(file, b);
    const err = expectCorrupt(() => recover(dir));
    expect(err.message).toContain(file);
    expect(err.message).toMatch(/offset \d+/);
    expect(err.message).toContain('--repair');

    const { store, result } = recover(dir, true);
    expect(result.repaired).toBe(true);
    expect(store.size).toBeGreaterThanOrEqual(49); // one damaged record lost, the rest salvaged
    expect(store.get('after')?.value).toBe('x');
    const reread = readRecordFile(file, FileKind.SNAPSHOT, () => undefined);
    expect(reread.problem).toBeNull();
    expect(readdirSync(dir).some((n) => n.startsWith('repair-backup-'))).toBe(true);
  });

  it('after a crash before the rename: deletes the .tmp and loads the previous snapshot and all segments', () => {
    writeSnapshot(dir, 2, { a: '1' });
    writeSegment(dir, 2, [put('b', '2')]);
    writeSegment(dir, 3, [put('c', '3')]);
    writeFileSync(path.join(dir, `${snapshotName(3)}.tmp`), 'half a snapshot');
    const { store, result } = recover(dir);
    expect(contents(store.entries())).toEqual({ a: '1', b: '2', c: '3' });
    expect(result.segments).toEqual([2, 3]);
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('after a crash between the rename and the cleanup: uses the new snapshot and deletes what it replaced', () => {
    writeSnapshot(dir, 2, { a: 'old' });
    writeSegment(dir, 2, [put('a', 'new')]);
    writeSnapshot(dir, 3, { a: 'new' });
    writeSegment(dir, 3, [put('b', 'later')]);
    const { store, result } = recover(dir);
    expect(contents(store.entries())).toEqual({ a: 'new', b: 'later' });
    expect(result).toMatchObject({ snapshot: 3, segments: [3] });
    expect(existsSync(snapshotPath(dir, 2))).toBe(false);
    expect(existsSync(segmentPath(dir, 2))).toBe(false);
  });

  it('after a crash while a new segment was being created: rewrites its header', () => {
    writeSegment(dir, 1, puts('k', 3));
    writeFileSync(segmentPath(dir, 2), Buffer.from('DKV')); // 3 of the 24 header bytes
    const { store, result } = recover(dir);
    expect(store.size).toBe(3);
    expect(result.segments).toEqual([1, 2]);
    expect(result.segmentSizes.get(2)).toBe(0); // AppendLog.open writes a fresh header
  });

  it('refuses a gap in the segments, and a log whose snapshot is missing', () => {
    writeSegment(dir, 1, puts('a', 1));
    writeSegment(dir, 3, puts('c', 1));
    expect(expectCorrupt(() => recover(dir)).message).toMatch(/log-000000000002\.kvlog is missing.*--repair/);
    rmSync(segmentPath(dir, 1));
    expect(expectCorrupt(() => recover(dir)).message).toMatch(/no snapshot holding the segments before it/);
  });

  it('treats a torn tail in a segment that is not the last as damage', () => {
    const seg = writeSegment(dir, 1, puts('k', 3));
    writeFileSync(seg.file, seg.bytes.subarray(0, seg.bytes.length - 2));
    writeSegment(dir, 2, puts('m', 1));
    expectCorrupt(() => recover(dir));
  });
});

describe('a server on damaged files', () => {
  let dir: string;
  beforeAll(() => requireFreshBuild());
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('starts on a torn tail, warning, with every complete record', async () => {
    const seg = writeSegment(dir, 1, puts('k', 20));
    writeFileSync(seg.file, seg.bytes.subarray(0, seg.bytes.length - 5));
    const srv = await startTestServer({ dataDir: dir, persistence: { enabled: true, fsync: 'always' } });
    try {
      expect(srv.server.backend.size).toBe(19);
      const warn = srv.logs.lines.find((l) => l.level === 40 && typeof l.bytesDropped === 'number');
      expect(warn).toBeDefined();
    } finally {
      await srv.stop();
    }
  });

  it('refuses to start on a flipped byte mid-log (exit 1, message on stderr), then starts with --repair', async () => {
    const seg = writeSegment(dir, 1, puts('k', 20));
    const bad = seg.offsets[10] as number;
    const b = Buffer.from(seg.bytes);
    b[bad + 9] = (b[bad + 9] as number) ^ 0x10;
    writeFileSync(seg.file, b);
    const data = path.join(dir);
    const refused = await spawnExpectingFailure(data);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(seg.file);
    expect(refused.stderr).toContain(`offset ${bad}`);
    expect(refused.stderr).toContain('--repair');

    const srv = await startTestServer({ dataDir: dir, persistence: { enabled: true, repair: true } });
    try {
      expect(srv.server.backend.size).toBe(10);
      expect(srv.logs.lines.some((l) => /repaired a corrupt log/.test(String(l.msg)))).toBe(true);
    } finally {
      await srv.stop();
    }
  });
});
