/** Builds data-directory files byte by byte, for tests that need a given state on disk. */
import { writeFileSync } from 'node:fs';
import type { Mutation, StoredKey } from '../../src/backend/types.js';
import { segmentPath, snapshotPath } from '../../src/persistence/files.js';
import { encodeFileHeader, encodeMutation, FileKind, FORMAT_VERSION, recordSize } from '../../src/persistence/formats.js';
import { writeSnapshotFile } from '../../src/persistence/snapshot-build.js';

export interface BuiltSegment {
  readonly file: string;
  readonly bytes: Buffer;
  /** Offset where each record starts. */
  readonly offsets: number[];
}

/** Mutations as the log records them. A version of 0 writes none (as format 1 did); an expiry of 0 is none. */
export const put = (key: string, value: string, version = 0, expiresAt = 0): Mutation => ({ kind: 'put', key, value, version, expiresAt });
export const del = (key: string, version = 0): Mutation => ({ kind: 'del', key, version });
export const expire = (key: string, expiresAt: number, version = 0): Mutation => ({ kind: 'expire', key, version, expiresAt });

export function segmentBytes(seq: number, mutations: Mutation[], format = FORMAT_VERSION): { bytes: Buffer; offsets: number[] } {
  const header = encodeFileHeader(FileKind.LOG, seq, format);
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

/**
 * Writes a snapshot of `entries` (a record of key → value, each key given the next
 * version from 1, no expiry; or StoredKeys as they are). Its END names `revision`
 * (default: the highest version in it).
 */
export function writeSnapshot(dir: string, seq: number, entries: Record<string, string> | StoredKey[], revision?: number): string {
  const file = snapshotPath(dir, seq);
  const keys = Array.isArray(entries) ? entries : Object.entries(entries).map(([key, value], i) => ({ key, value, version: i + 1, expiresAt: 0 }));
  writeSnapshotFile(file, seq, keys, revision ?? Math.max(0, ...keys.map((k) => k.version)));
  return file;
}

/** `n` PUTs of keys `<prefix>0`, `<prefix>1`, …, with versions from `firstVersion` on. */
export function puts(prefix: string, n: number, firstVersion = 1): Mutation[] {
  return Array.from({ length: n }, (_, i) => put(`${prefix}${i}`, `value-${i}-`.repeat(1 + (i % 3)), firstVersion + i));
}

/** What a store holds, as a plain record of key → value. */
export function contents(entries: Iterable<StoredKey>): Record<string, string> {
  return Object.fromEntries([...entries].map((k) => [k.key, k.value]));
}
