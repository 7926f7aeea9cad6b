import { existsSync } from 'node:fs';
import path from 'node:path';

/** True when running under CI (`.ci/run` sets CI=true): a missing peer then fails the run. */
export const IN_CI = process.env.CI === 'true' || process.env.CI === '1';

/** The path of `bin` on PATH, or null. */
export function findOnPath(bin: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const p = path.join(dir, bin);
    if (dir && existsSync(p)) return p;
  }
  return null;
}

/**
 * Whether the real peer `bin` (from the Debian package `pkg`) is here, for
 * `describe.skipIf(!havePeer(...))`. Under CI a missing peer is an error, since
 * .ci/run installs every peer; elsewhere the test skips and says so on stderr.
 */
export function havePeer(bin: string, pkg: string): boolean {
  if (findOnPath(bin) !== null) return true;
  const why = `${bin} is not installed (apt-get install -y ${pkg})`;
  if (IN_CI) throw new Error(`${why}; .ci/run installs it, so under CI this test may not skip`);
  process.stderr.write(`skipping the tests that need ${bin}: ${why}\n`);
  return false;
}

export { runPeer } from '../../bench/lib/run-peer.js';
