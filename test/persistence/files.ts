/** Builds data-directory files byte by byte, for tests that need a given state on disk. */
import { writeFileSync } from 'node:fs';
import { segmentPath, snapshotPath } from '../../src/persistence/files.js';
import { encodeFileHeader, encodeMutation, FileKind, recordSize } from '../../src/persistence/formats.js';
import { writeSnapshotFile } from '../../src/persistence/snapshot-build.js';
import type { Mutation } from '../../src/backend/types.js';

export interface BuiltSegment {
  readonly file: string;
  readonly bytes: Buffer;
  /** Offset where each record starts. */
  readonly offsets: number[];
}

export function segmentBytes(seq: number, mutations: Mutation[]): { bytes: Buffer; offsets: number[] } {
  const header = encodeFileHeader(FileKind.LOG, seq);
  const body = Buffer.alloc(mutations.reduce((n, m) => n + recordSize(m), 0));
  const offsets: number[] = [];
  let at = 0;
  for (const m of mutations) {
    offsets.push(header.length + at);
    at = encodeMutation(body, at, m);
  }
  return { bytes: Buffer.concat([header, body]), offsets };
}

export function writeSegment(dir: string, seq: number, mutations: Mutation[]): BuiltSegment {
  const { bytes, offsets } = segmentBytes(seq, mutations);
  const file = segmentPath(dir, seq);
  writeFileSync(file, bytes);
  return { file, bytes, offsets };
}

export function writeSnapshot(dir: string, seq: number, entries: Record<string, string>): string {
  const file = snapshotPath(dir, seq);
  writeSnapshotFile(file, seq, Object.entries(entries));
  return file;
}

export function puts(prefix: string, n: number): Mutation[] {
  return Array.from({ length: n }, (_, i) => ({ version: 1, expiresAt: 0, kind: 'put' as const, key: `${prefix}${i}`, value: `value-${i}-`.repeat(1 + (i % 3)) }));
}
