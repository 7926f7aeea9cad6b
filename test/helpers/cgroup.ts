import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { IN_CI } from './peers.js';

/** A memory cgroup made for one test: processes started with its `prelude` run inside its limit. */
export interface MemoryCgroup {
  readonly dir: string;
  /** A shell prelude that moves the shell (then the exec'd server) into the cgroup. */
  readonly prelude: string;
  /** The most memory its processes used at once, when the kernel says (cgroup v1). */
  peak(): number | null;
  remove(): void;
}

function tryCreate(root: string, limitFile: string, limit: number): MemoryCgroup | null {
  if (!existsSync(path.join(root, 'cgroup.procs'))) return null;
  const dir = path.join(root, `dualkv-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
  try {
    mkdirSync(dir);
    writeFileSync(path.join(dir, limitFile), String(limit));
  } catch {
    try {
      rmdirSync(dir);
    } catch {
      // It was never made.
    }
    return null;
  }
  return {
    dir,
    prelude: `echo $$ > '${path.join(dir, 'cgroup.procs')}' &&`,
    peak() {
      try {
        return Number(readFileSync(path.join(dir, 'memory.max_usage_in_bytes'), 'utf8'));
      } catch {
        return null;
      }
    },
    remove() {
      try {
        rmdirSync(dir);
      } catch {
        // Still has a process (a test that failed midway): the kernel frees it when that exits.
      }
    },
  };
}

/**
 * A fresh memory cgroup limited to `limit` bytes (cgroup v1 or v2; needs root). Null
 * when this machine cannot make one: under CI that is an error, since CI runs as root;
 * elsewhere the caller skips and says so.
 */
export function createMemoryCgroup(limit: number): MemoryCgroup | null {
  const made =
    tryCreate('/sys/fs/cgroup/memory', 'memory.limit_in_bytes', limit) ?? // v1
    tryCreate('/sys/fs/cgroup', 'memory.max', limit); // v2 (needs the memory controller enabled for children)
  if (made === null) {
    const why = 'cannot create a memory cgroup here (needs root and a writable /sys/fs/cgroup)';
    if (IN_CI) throw new Error(`${why}; CI runs as root, so this test may not skip`);
    process.stderr.write(`skipping the memory-cgroup tests: ${why}\n`);
  }
  return made;
}

/** Whether a memory cgroup can be made here, for describe.skipIf (made and removed at once). */
export function canMakeMemoryCgroup(): boolean {
  const probe = createMemoryCgroup(64 * 1024 * 1024);
  probe?.remove();
  return probe !== null;
}
