/**
 * Is the log still where recovery will look for it? A file deleted or replaced under a
 * running server keeps taking writes through its open descriptor, so nothing fails:
 * the writes just never reach a file that the next start reads. The only way to see
 * it is to compare what the paths name now with what the server opened.
 */
import { fstatSync, type Stats } from 'node:fs';
import { stat, type FileHandle } from 'node:fs/promises';

/** A file or directory as the kernel knows it; a new file at the same path is another identity. */
export interface FileIdentity {
  readonly dev: number;
  readonly ino: number;
}

export function identityOf(s: Pick<Stats, 'dev' | 'ino'>): FileIdentity {
  return { dev: s.dev, ino: s.ino };
}

function same(a: FileIdentity, b: Pick<Stats, 'dev' | 'ino'>): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

/** What went missing; `dir` says whether the whole data directory went (and every file in it). */
export interface MissingFiles {
  readonly dir: boolean;
  /** For the message: what happened, e.g. "the data directory /x was deleted". */
  readonly what: string;
}

function isGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * Compares the data directory and the segment path with what was opened. Resolves null
 * when all is well. An error other than "no such file" (EIO, say) is thrown: the
 * caller counts it, but cannot conclude that the files are gone.
 */
export async function findMissingFiles(dir: string, dirId: FileIdentity, segment: string, fh: FileHandle): Promise<MissingFiles | null> {
  try {
    if (!same(dirId, await stat(dir))) return { dir: true, what: `the data directory ${dir} was replaced by another directory` };
  } catch (err) {
    if (isGone(err)) return { dir: true, what: `the data directory ${dir} was deleted` };
    throw err;
  }
  const open = await fh.stat();
  if (open.nlink === 0) return { dir: false, what: `the log segment ${segment} was deleted` };
  try {
    if (!same(open, await stat(segment))) return { dir: false, what: `the log segment ${segment} was replaced by another file` };
  } catch (err) {
    if (isGone(err)) return { dir: false, what: `the log segment ${segment} was moved away` };
    throw err;
  }
  return null;
}

/**
 * The per-batch check under `--fsync always`: has the open segment lost its last name?
 * One fstat, next to an O_DSYNC write that costs a disk round trip.
 */
export function isUnlinked(fd: number): boolean {
  return fstatSync(fd).nlink === 0;
}
