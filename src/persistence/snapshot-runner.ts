/**
 * Starts the snapshot worker (worker_threads) for one job and waits for its answer.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { SnapshotJob, SnapshotResult } from './snapshot-build.js';
import type { WorkerReply } from './snapshot-worker.js';

/**
 * Where the worker's JavaScript is. A worker thread loads a file with Node's own
 * loader, which (on Node 20) cannot run TypeScript. Built, this module is
 * dist/src/persistence/snapshot-runner.js and the worker sits beside it. Under vitest
 * this module runs from src/persistence/snapshot-runner.ts, where there is no .js
 * beside it, so the compiled copy in dist/ (from `npm run build`) is used instead:
 * <root>/dist/src/persistence/snapshot-worker.js, with <root> two levels above here.
 */
export function resolveWorkerUrl(): URL {
  const sibling = new URL('./snapshot-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(sibling))) return sibling;
  const built = new URL('../../dist/src/persistence/snapshot-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(built))) return built;
  throw new Error(`the snapshot worker ${fileURLToPath(built)} is missing; run npm run build`);
}

export class SnapshotWorkerError extends Error {
  constructor(
    message: string,
    readonly file?: string,
    readonly offset?: number,
  ) {
    super(message);
    this.name = 'SnapshotWorkerError';
  }
}

/** Runs one snapshot job in a fresh worker thread. Rejects with the worker's error, or if it dies. */
export function runSnapshotWorker(job: SnapshotJob): Promise<SnapshotResult> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const worker = new Worker(resolveWorkerUrl(), { workerData: job, stdout: false, stderr: false });
    worker.once('message', (reply: WorkerReply) => {
      settled = true;
      if (reply.ok) resolve(reply.result);
      else reject(new SnapshotWorkerError(reply.message, reply.file, reply.offset));
    });
    worker.once('error', (err) => {
      if (settled) return;
      settled = true;
      reject(new SnapshotWorkerError(`snapshot worker crashed: ${err.message}`));
    });
    worker.once('exit', (code) => {
      if (settled) return;
      settled = true;
      reject(new SnapshotWorkerError(`snapshot worker exited with code ${code} before answering`));
    });
  });
}
