/**
 * Recovery at start, before the server listens: load the newest snapshot, then replay
 * the log segments after it, in order.
 *
 * - A torn tail on the last segment (a crash mid-write) is cut off with a warning.
 * - Anything else that cannot be read stops the start with DATA_CORRUPT: the message
 *   names the file and the offset, and says what --repair would do.
 * - --repair keeps a copy of each file it changes in repair-backup-<time>/, then
 *   truncates a damaged log at its last good record (later segments are moved into the
 *   backup, so the state is an exact prefix of the history), or salvages every readable
 *   record of a damaged snapshot and rewrites it.
 *
 * Records reach the store through replay.ts: keys already expired are not loaded, and
 * the revision counter goes on from the highest revision any file names.
 */
import { copyFileSync, mkdirSync, renameSync, statSync, truncateSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { KvError } from '../errors.js';
import type { DurableStore } from '../backend/types.js';
import { readRecordFile, type FileProblem } from './file-reader.js';
import { fsyncDirSync, listDataDir, segmentName, segmentPath, snapshotPath } from './files.js';
import { FileKind, FORMAT_VERSION } from './formats.js';
import { Replay } from './replay.js';
import { salvageSnapshot, writeSnapshotFile } from './snapshot-build.js';

export interface RecoveryOptions {
  readonly dir: string;
  readonly repair: boolean;
  readonly log: Logger;
  readonly store: DurableStore;
}

export interface RecoveryResult {
  /** The snapshot loaded (its number), or null when the store started empty. */
  readonly snapshot: number | null;
  /** Live segments, ascending; the last one is appended to from now on. */
  readonly segments: number[];
  /** Good bytes in each live segment (0: the last segment needs a fresh header). */
  readonly segmentSizes: Map<number, number>;
  readonly snapshotKeys: number;
  /** Snapshot keys the store left out because their expiry had passed. */
  readonly expiredAtLoad: number;
  /** The highest revision the files name: the revision counter goes on from it. */
  readonly revision: number;
  readonly logRecords: number;
  readonly tornBytes: number;
  /** True when --repair changed a file; a snapshot soon after start replaces the damaged history. */
  readonly repaired: boolean;
  readonly ms: number;
}

function corruptError(file: string, p: FileProblem, records: number, repairSays: string): KvError {
  const where = p.nextValidOffset !== null ? `; readable records follow at offset ${p.nextValidOffset}, so this is damage, not a torn tail` : '';
  return new KvError(
    'DATA_CORRUPT',
    `${file} is corrupt at offset ${p.offset} (after ${records} good records): ${p.detail}${where}. ` +
      `The server will not start on damaged data. To start anyway, run with --repair: it ${repairSays}`,
  );
}

export function recoverDataDir(opts: RecoveryOptions): RecoveryResult {
  const started = performance.now();
  const { dir, log, store } = opts;
  let backupDir: string | null = null;
  const backup = (file: string, move: boolean): string => {
    backupDir ??= path.join(dir, `repair-backup-${new Date().toISOString().replace(/[:.]/g, '-')}`);
    mkdirSync(backupDir, { recursive: true });
    const to = path.join(backupDir, path.basename(file));
    if (move) renameSync(file, to);
    else copyFileSync(file, to);
    return to;
  };
  const backupHint = () => `keeps a copy of the damaged files in ${path.join(dir, 'repair-backup-<time>')}/ and`;

  const listing = listDataDir(dir);
  for (const name of listing.temps) {
    log.info({ file: path.join(dir, name) }, 'removing a temporary file left by an interrupted snapshot');
    unlinkSync(path.join(dir, name));
  }
  const snapshot = listing.snapshots.at(-1) ?? null;
  for (const old of listing.snapshots.slice(0, -1)) {
    log.info({ file: snapshotPath(dir, old) }, 'removing a snapshot superseded by a newer one');
    unlinkSync(snapshotPath(dir, old));
  }
  const firstLive = snapshot ?? 1;
  for (const seq of listing.segments.filter((s) => s < firstLive)) {
    log.info({ file: segmentPath(dir, seq) }, 'removing a log segment already folded into the snapshot');
    unlinkSync(segmentPath(dir, seq));
  }

  // 1. The snapshot.
  let replay = new Replay(store);
  let snapshotKeys = 0;
  let snapshotRecords = 0;
  let repaired = false;
  if (snapshot !== null) {
    const file = snapshotPath(dir, snapshot);
    const out = readRecordFile(file, FileKind.SNAPSHOT, replay.record, { values: 'bytes' });
    replay.noteRevision(out.endRevision);
    snapshotRecords = out.records;
    if (out.problem !== null || out.seq !== snapshot) {
      const problem: FileProblem = out.problem ?? {
        offset: 8,
        kind: 'corrupt',
        detail: `its header says snapshot ${String(out.seq)}, not ${snapshot}`,
        bytesAfter: out.fileSize - 8,
        nextValidOffset: null,
      };
      if (!opts.repair) {
        throw corruptError(file, problem, out.records, `${backupHint()} loads every record that can still be read (keys in the damaged part are lost)`);
      }
      store.clear();
      replay = new Replay(store);
      let salvaged = 0;
      const { outcome, skipped, endRevision } = salvageSnapshot(file, (r) => {
        salvaged++;
        replay.record(r);
      });
      replay.noteRevision(endRevision);
      snapshotRecords = salvaged;
      const copy = backup(file, false);
      // Rewrite it whole now, so the next start does not meet the same damage.
      // (Before listening, so writing the store from the main thread stalls no one.)
      const { keys } = writeSnapshotFile(`${file}.tmp`, snapshot, store.entries(), replay.revision);
      renameSync(`${file}.tmp`, file);
      fsyncDirSync(dir);
      repaired = true;
      log.warn(
        { file, offset: problem.offset, detail: problem.detail, bytesSkipped: skipped, keysSalvaged: keys, backup: copy, recordsBefore: outcome.records },
        'repaired a corrupt snapshot: loaded every readable record and rewrote it; keys in the damaged part are lost',
      );
    }
    snapshotKeys = store.size;
  }

  // 2. The segments after it, contiguous from firstLive.
  let live = listing.segments.filter((s) => s >= firstLive);
  const gapAt = live.findIndex((s, i) => s !== firstLive + i);
  if (gapAt >= 0) {
    const missing = segmentName(firstLive + gapAt);
    const what =
      gapAt === 0 && snapshot === null
        ? `the log starts at ${segmentName(live[0] as number)} but there is no snapshot holding the segments before it`
        : `log segment ${missing} is missing (${live.map(segmentName).join(', ')} are present)`;
    if (!opts.repair) {
      throw new KvError(
        'DATA_CORRUPT',
        `${dir}: ${what}. The server will not start on a broken history. To start anyway, run with --repair: it ` +
          `${backupHint()} keeps only the history before the gap`,
      );
    }
    for (const seq of live.slice(gapAt)) backup(segmentPath(dir, seq), true);
    log.warn({ dir, detail: what, movedToBackup: live.slice(gapAt).map(segmentName) }, 'repair: dropped the log segments after a gap');
    live = live.slice(0, gapAt);
    repaired = true;
  }

  const segmentSizes = new Map<number, number>();
  let logRecords = 0;
  let tornBytes = 0;
  /** The format of the last segment read (null: its header was torn, and it is written anew). */
  let lastFormat: number | null = null;
  for (let i = 0; i < live.length; i++) {
    const seq = live[i] as number;
    const file = segmentPath(dir, seq);
    const isLast = i === live.length - 1;
    const out = readRecordFile(file, FileKind.LOG, replay.record, { values: 'bytes' });
    logRecords += out.records;
    lastFormat = out.goodEnd === 0 ? null : out.format;
    let problem = out.problem;
    if (problem === null && out.seq !== seq) {
      problem = { offset: 8, kind: 'corrupt', detail: `its header says segment ${String(out.seq)}`, bytesAfter: out.fileSize - 8, nextValidOffset: null };
    }
    if (problem === null) {
      segmentSizes.set(seq, out.fileSize);
      continue;
    }
    if (problem.kind === 'torn' && isLast) {
      log.warn(
        { file, offset: problem.offset, bytesDropped: problem.bytesAfter, detail: problem.detail },
        `log tail torn by a crash mid-write: cut off ${problem.bytesAfter} bytes at offset ${problem.offset}`,
      );
      truncateSync(file, out.goodEnd);
      tornBytes += problem.bytesAfter;
      segmentSizes.set(seq, out.goodEnd);
      continue;
    }
    const later = live.slice(i + 1);
    const laterNote = later.length > 0 ? `, and drops the ${later.length} later segment(s) ${later.map(segmentName).join(', ')}` : '';
    if (!opts.repair) {
      throw corruptError(
        file,
        problem,
        out.records,
        `${backupHint()} truncates this log at offset ${out.goodEnd}, dropping the ${problem.bytesAfter} bytes after it${laterNote}`,
      );
    }
    const copy = backup(file, false);
    for (const s of later) backup(segmentPath(dir, s), true);
    truncateSync(file, out.goodEnd);
    fsyncDirSync(dir);
    log.warn(
      { file, offset: problem.offset, detail: problem.detail, bytesDropped: problem.bytesAfter, backup: copy, segmentsDropped: later.map(segmentName) },
      `repaired a corrupt log: truncated at offset ${out.goodEnd}`,
    );
    segmentSizes.set(seq, out.goodEnd);
    live = live.slice(0, i + 1);
    repaired = true;
    break;
  }
  if (live.length === 0) {
    live = [firstLive];
    segmentSizes.set(firstLive, 0);
  } else if (lastFormat !== null && lastFormat < FORMAT_VERSION) {
    // A file's records follow its header's format: new records go into a new segment, not after older ones.
    const next = (live.at(-1) as number) + 1;
    live = [...live, next];
    segmentSizes.set(next, 0);
    log.info({ file: segmentPath(dir, next), format: FORMAT_VERSION, previousFormat: lastFormat }, 'the log goes on in a new segment of the current format');
  }
  for (const seq of live) if (!segmentSizes.has(seq)) segmentSizes.set(seq, statSync(segmentPath(dir, seq)).size);
  replay.finish();
  return {
    snapshot,
    segments: live,
    segmentSizes,
    snapshotKeys,
    // A snapshot names each key once, so what the store did not keep had expired.
    expiredAtLoad: snapshotRecords - snapshotKeys,
    revision: replay.revision,
    logRecords,
    tornBytes,
    repaired,
    ms: performance.now() - started,
  };
}
