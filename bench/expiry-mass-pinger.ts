/**
 * The event-loop probe of bench/expiry-mass.ts, in a worker thread so that the load
 * generator's own event loop does not delay it: one connection, one PING at a time,
 * the next about 1 ms after the last reply, each round trip recorded in the phase the
 * parent names. A server that stalls for 30 ms shows one round trip of about 30 ms.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { createHistogram, encodeHistogram, recordMs, type Histogram } from '../clients/lib/bench/latency.js';
import { RespQuery } from './lib/resp-query.js';

export interface PingerData {
  readonly port: number;
  /** The probe stops by itself after this long, whatever the parent says. */
  readonly maxMs: number;
}
export type PingerRequest = { cmd: 'phase'; phase: string | null } | { cmd: 'stop' };
export interface PhaseReport {
  readonly histogram: string;
  readonly count: number;
  readonly maxMs: number;
  /** The slowest round trips: when each was sent (ms since the epoch) and how long it took. */
  readonly worst: Array<{ at: number; ms: number }>;
  /**
   * How late this thread's 1 ms timer fired, at most: the machine's own scheduling delay
   * on the client side. A round trip no longer than this says little about the server.
   */
  readonly timerLateMaxMs: number;
}
export interface PingerReport {
  readonly type: 'report';
  readonly phases: Record<string, PhaseReport>;
}

const WORST_KEPT = 5;
const { port, maxMs } = workerData as PingerData;
const phases = new Map<string, { h: Histogram; count: number; max: number; worst: Array<{ at: number; ms: number }>; late: number }>();
let phase: string | null = null;
let running = true;

parentPort?.on('message', (m: PingerRequest) => {
  if (m.cmd === 'phase') phase = m.phase;
  else running = false;
});

const conn = await RespQuery.open(port);
const deadline = performance.now() + maxMs;
while (running && performance.now() < deadline) {
  const at = Date.now();
  const t0 = performance.now();
  await conn.query('PING');
  const took = performance.now() - t0;
  if (phase !== null) {
    let p = phases.get(phase);
    if (p === undefined) phases.set(phase, (p = { h: createHistogram(), count: 0, max: 0, worst: [], late: 0 }));
    recordMs(p.h, took);
    p.count++;
    if (took > p.max) p.max = took;
    if (p.worst.length < WORST_KEPT || took > (p.worst.at(-1)?.ms ?? 0)) {
      p.worst.push({ at, ms: took });
      p.worst.sort((a, b) => b.ms - a.ms);
      p.worst.length = Math.min(p.worst.length, WORST_KEPT);
    }
  }
  const wait = Math.max(0, 1 - (performance.now() - t0));
  const asked = performance.now();
  await new Promise((r) => setTimeout(r, wait));
  const late = performance.now() - asked - Math.max(1, wait); // Node waits at least 1 ms
  const p = phase === null ? undefined : phases.get(phase);
  if (p !== undefined && late > p.late) p.late = late;
}
conn.close();
const report: PingerReport = {
  type: 'report',
  phases: Object.fromEntries(
    [...phases].map(([name, p]) => [name, { histogram: encodeHistogram(p.h), count: p.count, maxMs: p.max, worst: p.worst, timerLateMaxMs: p.late }]),
  ),
};
parentPort?.postMessage(report);
