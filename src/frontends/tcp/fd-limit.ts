import { readdirSync, readFileSync } from 'node:fs';

/**
 * File descriptors kept free beyond those open at start, for log files, snapshot
 * files, the snapshot worker and the sockets of a moment (Redis reserves 32).
 */
export const RESERVED_FDS = 32;

/** The soft RLIMIT_NOFILE (Node has no getrlimit; Linux shows it in /proc), or null when unknown. */
export function openFilesLimit(): number | null {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
    if (soft === undefined || soft === 'unlimited') return null;
    const n = Number(soft);
    return Number.isSafeInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

function openFiles(): number {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return 0;
  }
}

/**
 * The most TCP clients the process can hold open: --max-connections, lowered so
 * that clients can never take the last descriptors (past the limit accept() fails,
 * and a client would be dropped with no reply). `reason` says why when lowered.
 */
export function clampConnections(wanted: number): { max: number; reason: string | null } {
  const limit = openFilesLimit();
  if (limit === null) return { max: wanted, reason: null };
  const room = Math.max(1, limit - openFiles() - RESERVED_FDS);
  if (wanted <= room) return { max: wanted, reason: null };
  return {
    max: room,
    reason: `the open-files limit is ${limit} (ulimit -n); raise it to allow ${wanted} clients`,
  };
}
