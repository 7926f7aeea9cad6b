/**
 * The snapshot worker thread's entry point: one job in (workerData), one message out.
 * The work itself is in snapshot-build.ts, which tests can also call directly.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { buildSnapshot, SnapshotInputError, type SnapshotJob, type SnapshotResult } from './snapshot-build.js';

export type WorkerReply =
  | { readonly ok: true; readonly result: SnapshotResult }
  | { readonly ok: false; readonly message: string; readonly code?: string; readonly file?: string; readonly offset?: number };

if (parentPort) {
  let reply: WorkerReply;
  try {
    reply = { ok: true, result: buildSnapshot(workerData as SnapshotJob) };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    reply =
      err instanceof SnapshotInputError
        ? { ok: false, message: err.message, file: err.file, offset: err.offset }
        : { ok: false, message: e.message, code: e.code };
  }
  parentPort.postMessage(reply);
}
