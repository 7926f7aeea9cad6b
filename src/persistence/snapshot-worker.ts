/**
 * The snapshot worker thread's entry point: one job in (workerData), one message out.
 * The work itself is in snapshot-build.ts, which tests can also call directly.
 */
import { spawnSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { buildSnapshot, Pacer, SnapshotInputError, type SnapshotJob, type SnapshotResult } from './snapshot-build.js';

export type WorkerReply =
  | { readonly ok: true; readonly result: SnapshotResult }
  | { readonly ok: false; readonly message: string; readonly code?: string; readonly file?: string; readonly offset?: number };

/**
 * The worker's CPU niceness. On Linux the nice value belongs to a thread and
 * setPriority(0, …) names the calling thread, so this lowers the worker alone: on a
 * busy machine the snapshot yields the CPU to the thread serving clients, and takes
 * longer instead of slowing requests down. Elsewhere it may apply to the whole process,
 * so it is only done on Linux.
 */
export const WORKER_NICE = 19;
/** Share of the wall time the worker may spend working (see Pacer). */
export const WORKER_DUTY = 0.5;

/**
 * Better still on Linux: SCHED_IDLE, under which this thread runs only when no other
 * thread wants the CPU. Node has no call for it, so util-linux's chrt sets it on this
 * thread's id; where chrt is missing or refused, the nice value above stands.
 */
function idleScheduling(): void {
  try {
    const tid = readlinkSync('/proc/thread-self').split('/').pop();
    if (tid) spawnSync('chrt', ['--idle', '--pid', '0', tid], { stdio: 'ignore', timeout: 2000 });
  } catch {
    // No /proc or no chrt: keep the nice value.
  }
}

if (parentPort) {
  const job = workerData as SnapshotJob;
  if (process.platform === 'linux' && !job.urgent) {
    try {
      setPriority(0, WORKER_NICE);
    } catch {
      // Not allowed (e.g. a seccomp profile): run at normal priority.
    }
    idleScheduling();
  }
  let reply: WorkerReply;
  try {
    reply = { ok: true, result: job.urgent ? buildSnapshot(job) : buildSnapshot(job, new Pacer(WORKER_DUTY)) };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    reply =
      err instanceof SnapshotInputError
        ? { ok: false, message: err.message, file: err.file, offset: err.offset }
        : { ok: false, message: e.message, code: e.code };
  }
  parentPort.postMessage(reply);
}
