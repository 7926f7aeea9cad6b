import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { IN_CI } from './peers.js';

let mountable: boolean | null = null;

/**
 * Whether this process may mount a tmpfs (root with CAP_SYS_ADMIN), for the tests that
 * need a real full or read-only filesystem. As havePeer (test/helpers/peers.ts): under
 * CI a refusal fails the run, since CI runs as root; elsewhere the tests skip and say so.
 */
export function canMountTmpfs(): boolean {
  if (mountable !== null) return mountable;
  const probe = mkdtempSync(path.join(tmpdir(), 'dualkv-mount-probe-'));
  try {
    const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { encoding: 'utf8' });
    mountable = r.status === 0;
    if (mountable) {
      spawnSync('umount', [probe]);
      return true;
    }
    const why = `mount -t tmpfs is not permitted here (${(r.stderr || r.error?.message || `exit ${r.status}`).trim()})`;
    if (IN_CI) throw new Error(`${why}; under CI these tests may not skip`);
    process.stderr.write(`skipping the tests that need a tmpfs mount: ${why}\n`);
    return false;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

/** Mounts a tmpfs on `dir` (which must exist); `umount` it in afterEach. */
export function mountTmpfs(dir: string, options: string): void {
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mount -t tmpfs -o ${options} tmpfs ${dir} failed: ${r.stderr}`);
}
