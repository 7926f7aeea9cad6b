/**
 * A closed-loop load: `workers` loops, each sending its next request when the last one
 * was answered, until `maxOps` requests were sent or `maxMs` passed, whichever comes
 * first. Latencies go into an HDR histogram (clients/lib/bench/latency.ts), in µs.
 */
import { performance } from 'node:perf_hooks';
import { createHistogram, recordMs, summarize, type LatencySummary } from '../../clients/lib/bench/latency.js';

export interface ClosedLoopResult {
  /** Requests answered without an error. */
  readonly ok: number;
  readonly errors: number;
  /** The first error's message, or null. */
  readonly firstError: string | null;
  readonly elapsedMs: number;
  /** Answered requests a second, errors not counted. */
  readonly opsPerSec: number;
  /** Of the answered requests. */
  readonly latencyUs: LatencySummary;
}

/**
 * Runs `op(worker, n)` (n counts from 0 over all workers) in `workers` loops. A loop stops
 * at the bounds, or after an error once `maxErrors` were seen, so a dead server ends the run.
 */
export async function runClosedLoop(options: {
  workers: number;
  maxOps: number;
  maxMs: number;
  op: (worker: number, n: number) => Promise<unknown>;
  maxErrors?: number;
}): Promise<ClosedLoopResult> {
  const h = createHistogram();
  const maxErrors = options.maxErrors ?? 100;
  let sent = 0;
  let ok = 0;
  let errors = 0;
  let firstError: string | null = null;
  const started = performance.now();
  const deadline = started + options.maxMs;
  const loop = async (worker: number): Promise<void> => {
    while (sent < options.maxOps && errors < maxErrors) {
      const t = performance.now();
      if (t >= deadline) return;
      const n = sent++;
      try {
        await options.op(worker, n);
        recordMs(h, performance.now() - t);
        ok++;
      } catch (err) {
        errors++;
        firstError ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: options.workers }, (_, w) => loop(w)));
  const elapsedMs = performance.now() - started;
  const latencyUs = summarize(h);
  h.destroy();
  return { ok, errors, firstError, elapsedMs, opsPerSec: (ok * 1000) / elapsedMs, latencyUs };
}
