/**
 * The files in --data-dir and how they are named. The names are the manifest: a
 * snapshot's number says which log segments it already holds, so the directory
 * listing alone tells recovery what to load after a crash at any point.
 *
 * - `log-<n>.kvlog`       log segment n. Segments are numbered 1, 2, 3, … without gaps.
 * - `snapshot-<s>.kvsnap` every mutation in segments < s, folded into one record per key.
 * - `snapshot-<s>.kvsnap.tmp` a snapshot being written; never read, deleted at start.
 * - `LOCK`                the pid of the server using the directory.
 * - `repair-backup-*`     copies kept by --repair.
 *
 * Invariant: with a newest snapshot s (s = 1 when there is none), the live segments are
 * exactly s, s+1, …, last. Segments below s and snapshots older than s are garbage left
 * by a crash between a snapshot's rename and the cleanup, and are deleted at start.
 */
import { closeSync, fsyncSync, openSync, readdirSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';

const DIGITS = 12;
const SEGMENT_RE = /^log-(\d{12})\.kvlog$/;
const SNAPSHOT_RE = /^snapshot-(\d{12})\.kvsnap$/;
const SNAPSHOT_TMP_RE = /^snapshot-\d{12}\.kvsnap\.tmp$/;

export const LOCK_FILE = 'LOCK';

export function segmentName(seq: number): string {
  return `log-${String(seq).padStart(DIGITS, '0')}.kvlog`;
}

export function snapshotName(seq: number): string {
  return `snapshot-${String(seq).padStart(DIGITS, '0')}.kvsnap`;
}

export interface DataDirListing {
  /** Segment numbers, ascending. */
  readonly segments: number[];
  /** Snapshot numbers, ascending. */
  readonly snapshots: number[];
  /** Snapshots a crash left half written (names). */
  readonly temps: string[];
}

export function listDataDir(dir: string): DataDirListing {
  const segments: number[] = [];
  const snapshots: number[] = [];
  const temps: string[] = [];
  for (const name of readdirSync(dir)) {
    let m = SEGMENT_RE.exec(name);
    if (m) {
      segments.push(Number(m[1]));
      continue;
    }
    m = SNAPSHOT_RE.exec(name);
    if (m) {
      snapshots.push(Number(m[1]));
      continue;
    }
    if (SNAPSHOT_TMP_RE.test(name)) temps.push(name);
  }
  segments.sort((a, b) => a - b);
  snapshots.sort((a, b) => a - b);
  return { segments, snapshots, temps };
}

/**
 * Makes a directory's entries durable (a created, renamed or deleted file). Without it
 * a rename can be lost to a power cut even though the file's bytes were fsynced.
 */
export function fsyncDirSync(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export function segmentPath(dir: string, seq: number): string {
  return path.join(dir, segmentName(seq));
}

export function snapshotPath(dir: string, seq: number): string {
  return path.join(dir, snapshotName(seq));
}
