/**
 * One server per data directory. Two servers appending to one log interleave their
 * records and lose data, so the second one must refuse to start.
 *
 * Node has no flock(), so the lock is a file, `LOCK`, holding the owner's pid, the
 * owner's start time from /proc (so a recycled pid is not mistaken for the owner)
 * and the host name. It is created atomically with link(), so it is never seen half
 * written. A lock whose owner is gone (kill -9, power cut) is stale and is taken over
 * with a warning; it never blocks a restart.
 */
import { hostname } from 'node:os';
import { linkSync, readFileSync, realpathSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { KvError } from '../errors.js';
import { LOCK_FILE } from './files.js';

interface LockOwner {
  readonly pid: number;
  /** Field 22 of /proc/<pid>/stat (clock ticks after boot), or null off Linux. */
  readonly startTime: string | null;
  readonly host: string;
  readonly since: string;
}

/** Directories locked by this process: a second in-process server shares our pid. */
const heldHere = new Set<string>();

export interface DataDirLock {
  readonly file: string;
  /** Set when a stale lock was taken over: who had it. */
  readonly tookOverFrom: LockOwner | null;
  release(): void;
}

/** Fields 3 onwards of /proc/<pid>/stat, or null (no such process, or not Linux). */
function procStat(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses; the fields after the last ')' are plain.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

function processStartTime(pid: number): string | null {
  return procStat(pid)?.[19] ?? null; // field 22 overall: [0] is field 3
}

function isAlive(owner: LockOwner): boolean {
  if (owner.host !== hostname()) return true; // another machine or container: we cannot tell, so assume it runs
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stat = procStat(owner.pid);
  if (stat === null) return true; // no /proc: the signal test above is all we have
  // A killed server whose parent has not reaped it yet is a zombie: it holds nothing.
  if (stat[0] === 'Z' || stat[0] === 'X') return false;
  return owner.startTime === null || stat[19] === owner.startTime;
}

function parseOwner(text: string): LockOwner | null {
  try {
    const o = JSON.parse(text) as Partial<LockOwner>;
    if (typeof o.pid !== 'number' || typeof o.host !== 'string') return null;
    return { pid: o.pid, startTime: typeof o.startTime === 'string' ? o.startTime : null, host: o.host, since: String(o.since ?? '') };
  } catch {
    return null;
  }
}

function lockedError(dir: string, file: string, owner: LockOwner): KvError {
  const where = owner.host === hostname() ? `pid ${owner.pid}` : `pid ${owner.pid} on host ${owner.host}`;
  return new KvError(
    'DATA_DIR_LOCKED',
    `data directory ${dir} is in use by another kv-server (${where}, since ${owner.since}); ` +
      `stop that server or start this one with another --data-dir. If no server is running there, delete ${file}`,
  );
}

/** Takes the lock on `dir`, or throws DATA_DIR_LOCKED naming the owner. */
export function acquireDataDirLock(dir: string): DataDirLock {
  const real = realpathSync(dir);
  const file = path.join(dir, LOCK_FILE);
  const me: LockOwner = { pid: process.pid, startTime: processStartTime(process.pid), host: hostname(), since: new Date().toISOString() };
  if (heldHere.has(real)) throw lockedError(dir, file, me);
  const tmp = path.join(dir, `${LOCK_FILE}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
  writeFileSync(tmp, JSON.stringify(me) + '\n');
  let tookOverFrom: LockOwner | null = null;
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(tmp, file);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) throw err;
      }
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // released meanwhile
        throw err;
      }
      const owner = parseOwner(text);
      // Our own pid with the directory not held here: an earlier life of this pid (a container's pid 1).
      const ours = owner !== null && owner.pid === process.pid && owner.host === me.host;
      if (owner !== null && !ours && isAlive(owner)) throw lockedError(dir, file, owner);
      // Stale. Move it aside, then check that what moved is what we judged: another server
      // starting at the same moment may have replaced it, and its live lock goes back.
      const aside = `${tmp}.stale`;
      try {
        renameSync(file, aside);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      const moved = readFileSync(aside, 'utf8');
      if (moved !== text) {
        try {
          linkSync(aside, file);
        } finally {
          unlinkSync(aside);
        }
        const winner = parseOwner(moved);
        if (winner) throw lockedError(dir, file, winner);
        continue;
      }
      unlinkSync(aside);
      tookOverFrom = owner ?? { pid: -1, startTime: null, host: '?', since: '?' };
    }
  } finally {
    unlinkSync(tmp);
  }
  heldHere.add(real);
  let released = false;
  return {
    file,
    tookOverFrom,
    release() {
      if (released) return;
      released = true;
      heldHere.delete(real);
      try {
        const owner = parseOwner(readFileSync(file, 'utf8'));
        if (owner && owner.pid === me.pid && owner.since === me.since) unlinkSync(file);
      } catch {
        // Already gone: nothing to release.
      }
    },
  };
}
