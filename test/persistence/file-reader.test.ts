import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readRecordFile } from '../../src/persistence/file-reader.js';
import { END_RECORD_SIZE, FileKind } from '../../src/persistence/formats.js';
import { type DecodedRecord } from '../../src/persistence/record-decode.js';
import { puts, segmentBytes, writeSnapshot } from './files.js';
import { tempDir } from './helpers.js';

describe('reading a log segment', () => {
  let dir: string;
  let file: string;
  const ms = puts('key', 6);
  const { bytes, offsets } = segmentBytes(1, ms);

  beforeEach(() => {
    dir = tempDir();
    file = path.join(dir, 'log-000000000001.kvlog');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function read(b: Buffer) {
    writeFileSync(file, b);
    const got: DecodedRecord[] = [];
    return { out: readRecordFile(file, FileKind.LOG, (r) => got.push({ ...r })), got };
  }

  it('reads every record of an intact segment, in order', () => {
    const { out, got } = read(bytes);
    expect(out.problem).toBeNull();
    expect(out.seq).toBe(1);
    expect(got.map((r) => ('key' in r ? r.key : ''))).toEqual(ms.map((m) => ('key' in m ? m.key : '')));
    expect(out.goodEnd).toBe(bytes.length);
  });

  it('calls a cut anywhere in the last record, or in the header, a torn tail and keeps the records before it', () => {
    const last = offsets.at(-1) as number;
    for (let cut = last + 1; cut < bytes.length; cut++) {
      const { out, got } = read(bytes.subarray(0, cut));
      expect(out.problem?.kind, `cut at ${cut}`).toBe('torn');
      expect(out.problem?.offset).toBe(last);
      expect(out.problem?.bytesAfter).toBe(cut - last);
      expect(got).toHaveLength(ms.length - 1);
      expect(out.goodEnd).toBe(last);
    }
    for (let cut = 0; cut < 24; cut++) {
      const { out } = read(bytes.subarray(0, cut));
      expect(out.problem?.kind, `header cut at ${cut}`).toBe('torn');
      expect(out.goodEnd).toBe(0);
    }
  });

  it('calls junk or zeros after the last record a torn tail (a crash after the size grew, before the data landed)', () => {
    for (const junk of [Buffer.alloc(300), Buffer.from('not a record at all, just text\n'.repeat(5))]) {
      const { out, got } = read(Buffer.concat([bytes, junk]));
      expect(out.problem).toMatchObject({ kind: 'torn', offset: bytes.length, bytesAfter: junk.length });
      expect(got).toHaveLength(ms.length);
    }
  });

  it('calls a flipped byte anywhere in a middle record corruption, and points at the next good record', () => {
    const victim = 2;
    const start = offsets[victim] as number;
    const end = offsets[victim + 1] as number;
    for (let i = start; i < end; i++) {
      const b = Buffer.from(bytes);
      b[i] = (b[i] as number) ^ 0x5a;
      const { out, got } = read(b);
      expect(out.problem?.kind, `byte ${i}`).toBe('corrupt');
      expect(out.problem?.offset).toBe(start);
      expect(out.problem?.nextValidOffset).toBe(end);
      expect(got).toHaveLength(victim);
    }
  });

  it('calls a damaged header corruption when records follow it', () => {
    const b = Buffer.from(bytes);
    b[2] = 0;
    const { out } = read(b);
    expect(out.problem).toMatchObject({ kind: 'corrupt', offset: 0, nextValidOffset: 24 });
  });
});

describe('reading a snapshot', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reads its keys and checks the END count; a snapshot cut short is corrupt, never torn', () => {
    const file = writeSnapshot(dir, 4, { a: '1', b: '2', c: '3' });
    const got: DecodedRecord[] = [];
    const out = readRecordFile(file, FileKind.SNAPSHOT, (r) => got.push({ ...r }));
    expect(out.problem).toBeNull();
    expect(out.seq).toBe(4);
    expect(out.endCount).toBe(3);
    expect(got).toHaveLength(3);

    const whole = readFileSync(file);
    writeFileSync(file, whole.subarray(0, whole.length - END_RECORD_SIZE)); // without its END record
    const cut = readRecordFile(file, FileKind.SNAPSHOT, () => undefined);
    expect(cut.problem).toMatchObject({ kind: 'corrupt' });
    expect(cut.problem?.detail).toMatch(/without its END record/);
  });
});
