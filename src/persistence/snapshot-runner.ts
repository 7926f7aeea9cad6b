/**
 * Starts the snapshot worker (worker_threads) for one job and waits for its answer.
 */
import { existsSync, unlinkSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { packagePath } from '../package-root.js';
import { snapshotPath } from './files.js';
import type { SnapshotJob, SnapshotResult } from './snapshot-build.js';
import type { WorkerReply } from './snapshot-worker.js';

/**
 * Where the worker's JavaScript is: dist/src/persistence/snapshot-worker.js in the
 * package, from `npm run build`. A worker thread loads a file with Node's own loader,
 * which (on Node 20) cannot run TypeScript, so under vitest the built copy is used too.
 */
export function resolveWorkerUrl(): URL {
  const file = packagePath('dist', 'src', 'persistence', 'snapshot-worker.js');
  if (!existsSync(file)) throw new Error(`the snapshot worker ${file} is missing; run npm run build`);
  return pathToFileURL(file);
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

/**
 * Runs one snapshot job in a fresh worker thread. Rejects with the worker's error, if it
 * dies, or once `signal` aborts (shutdown's deadline): the worker is stopped first, so
 * nothing writes in the data directory after the promise settles.
 */
export function runSnapshotWorker(job: SnapshotJob, signal?: AbortSignal): Promise<SnapshotResult> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new SnapshotWorkerError(`snapshot not started: ${String(signal.reason)}`));
      return;
    }
    let settled = false;
    const worker = new Worker(resolveWorkerUrl(), { workerData: job, stdout: false, stderr: false });
    const onAbort = () => {
      if (settled) return;
      settled = true;
      void worker.terminate().finally(() => {
        // Its half-written file would hold disk space until the next start deletes it.
        try {
          unlinkSync(`${snapshotPath(job.dir, job.seq)}.tmp`);
        } catch {
          // Not created yet, or already renamed into place (a complete snapshot, which recovery may use).
        }
        reject(new SnapshotWorkerError(`snapshot abandoned: ${String(signal?.reason)}`));
      });
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    worker.once('exit', () => signal?.removeEventListener('abort', onAbort));
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
