/**
 * The append-only log's small pieces of file I/O and failure reporting, kept apart
 * from the group-commit logic in append-log.ts.
 */
import { constants, writeSync } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import type { FsyncPolicy } from '../config.js';
import type { MissingFiles } from './file-check.js';
import { fsyncDir, segmentPath } from './files.js';
import { encodeFileHeader, FileKind } from './formats.js';

/** The file operations the log uses; tests may wrap them to inject failures. */
export interface LogFileOps {
  open(path: string, flags: number): Promise<FileHandle>;
  /** A blocking write(2) on the handle's descriptor (the `always` policy's group commit). */
  writeSync(fh: FileHandle, data: Buffer, offset: number, length: number, position: number): number;
}

export const realFileOps: LogFileOps = {
  open: (p, f) => open(p, f),
  writeSync: (fh, data, offset, length, position) => writeSync(fh.fd, data, offset, length, position),
};

/**
 * open(2) flags for a log segment: `append` an existing one, `create` (or empty) one, or
 * `exclusive`ly create a new one. With `always` the file is opened O_DSYNC: each write
 * returns only once its data (and the file size) are on disk, which is what write and
 * fdatasync do together, in one system call and one trip through the thread pool.
 */
export function segmentFlags(how: 'append' | 'create' | 'exclusive', policy: FsyncPolicy): number {
  const { O_RDWR, O_CREAT, O_TRUNC, O_EXCL, O_DSYNC } = constants;
  const base = how === 'append' ? O_RDWR : how === 'create' ? O_RDWR | O_CREAT | O_TRUNC : O_RDWR | O_CREAT | O_EXCL;
  return policy === 'always' ? base | O_DSYNC : base;
}

/**
 * Creates segment `seq` with its header, durable along with its directory entry before
 * anything is appended to it. A segment made `exclusive`ly is removed again if that fails.
 */
export async function createSegment(ops: LogFileOps, dir: string, seq: number, policy: FsyncPolicy, how: 'create' | 'exclusive'): Promise<FileHandle> {
  const file = segmentPath(dir, seq);
  const fh = await ops.open(file, segmentFlags(how, policy));
  try {
    await writeAll(fh, encodeFileHeader(FileKind.LOG, seq), 0);
    await fh.datasync();
    await fsyncDir(dir);
  } catch (err) {
    await fh.close().catch(() => undefined);
    if (how === 'exclusive') await unlink(file).catch(() => undefined);
    throw err;
  }
  return fh;
}

/** The segment being appended to, for the log's helpers: its handle and path change at rotation. */
export interface CurrentSegment {
  fh(): FileHandle;
  file(): string;
}

export interface Deferred {
  readonly promise: Promise<void>;
  resolve(): void;
  reject(err: unknown): void;
}

export function defer(): Deferred {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A write that nobody waits on (e.g. its client went away) must not be an unhandled rejection.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/** What broke, for the error message, STATS and the log. */
export interface LogFailure {
  /** `gone`: the data directory or the open segment was deleted or replaced (see file-check.ts). */
  readonly op: 'write' | 'fsync' | 'gone';
  readonly err: NodeJS.ErrnoException;
  readonly file: string;
  readonly at: Date;
  /** A write failure is retried; after an fsync failure the page cache cannot be trusted. */
  readonly retryable: boolean;
  /** With op `gone`: what went missing. */
  readonly missing?: MissingFiles;
}

/** Writes all of `data` at `position`: a short write (e.g. the disk filling up) is continued, or fails. */
export async function writeAll(fh: FileHandle, data: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, position + done);
    if (bytesWritten === 0) throw Object.assign(new Error('write wrote nothing'), { code: 'EIO' });
    done += bytesWritten;
  }
}

/** writeAll's blocking twin, for the `always` policy (see AppendLog.writeBatch). */
export function writeAllSync(ops: LogFileOps, fh: FileHandle, data: Buffer, position: number): void {
  let done = 0;
  while (done < data.length) {
    const n = ops.writeSync(fh, data, done, data.length - done, position + done);
    if (n === 0) throw Object.assign(new Error('write wrote nothing'), { code: 'EIO' });
    done += n;
  }
}

export function describeFailure(f: LogFailure | null): string {
  if (f === null) return 'the append-only log failed';
  if (f.op === 'gone') {
    const held = f.missing?.dir ? 'the snapshot and every log segment' : 'the writes since the last snapshot';
    return `${f.err.message} while the server was running, so ${held} are no longer on disk and a restart would come up without them`;
  }
  const reason = f.err.code && !f.err.message.startsWith(f.err.code) ? `${f.err.code}: ${f.err.message}` : f.err.message;
  return f.retryable
    ? `the append-only log ${f.file} could not be written (${reason}); free disk space or fix the disk, and writes resume by themselves`
    : `the append-only log ${f.file} could not be fsynced (${reason}); writes since the last fsync may not be on disk, so restart the server to reload from the files`;
}
