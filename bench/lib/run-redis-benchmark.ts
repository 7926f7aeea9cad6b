/**
 * Runs redis-benchmark as a child process (not execFileSync, so that SIGINT is
 * handled while it runs) with a time limit, and returns its `--csv` rows or why
 * there are none. redis-benchmark waits forever on a server that never answers.
 */
import { spawn } from 'node:child_process';
import { track } from './cleanup.js';
import { describeBenchmarkFailure, parseBenchmarkCsv, type BenchmarkRow } from './redis-benchmark-tests.js';

export type BenchmarkOutcome = { readonly ok: true; readonly rows: BenchmarkRow[] } | { readonly ok: false; readonly error: string };

export function runRedisBenchmark(port: number, args: readonly string[], timeoutMs: number): Promise<BenchmarkOutcome> {
  return new Promise((resolve) => {
    const child = spawn('redis-benchmark', ['-h', '127.0.0.1', '-p', String(port), '--csv', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    track({ child, stop: async () => void child.kill('SIGKILL') });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      resolve({ ok: false, error: `could not run redis-benchmark: ${err.message}` });
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) return resolve({ ok: false, error: `no result within ${timeoutMs / 1000} s (killed)` });
      if (code !== 0) return resolve({ ok: false, error: describeBenchmarkFailure(stderr, { code, signal }) });
      try {
        const rows = parseBenchmarkCsv(stdout);
        resolve(rows.length > 0 ? { ok: true, rows } : { ok: false, error: `no CSV row in redis-benchmark's output: ${stdout.trim() || stderr.trim()}` });
      } catch (err) {
        resolve({ ok: false, error: (err as Error).message });
      }
    });
  });
}
