import { spawn } from 'node:child_process';
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

/**
 * Runs a peer (redis-cli, curl, openssl) and collects its output; killed after `timeoutMs`.
 * Asynchronous on purpose: the server under test runs in this process, so a synchronous
 * spawn would stop it from answering.
 */
export function runPeer(bin: string, args: readonly string[], stdin?: string | Buffer, timeoutMs = 20_000): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr: err });
    });
    child.stdin.end(stdin ?? '');
  });
}
