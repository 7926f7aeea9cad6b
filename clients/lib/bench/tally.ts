import { OP_NAMES, type OpKind, type OpName } from './workload.js';

/** How an operation ended. A miss (GET or DEL of a missing key) is a success. */
export const Outcome = { OK: 0, MISS: 1, ERROR: 2 } as const;
export type Outcome = (typeof Outcome)[keyof typeof Outcome];

/** Error kinds the engine itself names; servers add `server:<CODE>` kinds. */
export const ErrorKind = {
  /** No reply within the timeout (UDP: after every retry). */
  TIMEOUT: 'timeout',
  /** The connection closed, or the socket failed, with the request unanswered. */
  CONNECTION: 'connection',
  /** A reply the engine could not read. */
  PROTOCOL: 'protocol',
  /** Still unanswered when the run ended and the drain time ran out. */
  UNFINISHED: 'unfinished',
} as const;

export interface OpCounts {
  sent: number;
  ok: number;
  /** GET or DEL of a key that was not there (included in ok). */
  notFound: number;
  errors: number;
}

/**
 * The counters of one run (or one thread's part of it). Only operations sent
 * after the warm-up count, and each one that counts in `sent` ends in exactly
 * one of `ok` and `errors`, so ok + errors = sent once the run has drained.
 */
export interface Tally {
  sent: number;
  ok: number;
  errors: number;
  readonly ops: Record<OpName, OpCounts>;
  readonly errorKinds: Record<string, number>;
  /** Datagrams sent again for requests already sent (UDP). */
  retries: number;
  /** Exact extremes of the recorded latencies, in microseconds (0 when none). */
  minUs: number;
  maxUs: number;
}

export function emptyTally(): Tally {
  const ops = {} as Record<OpName, OpCounts>;
  for (const n of OP_NAMES) ops[n] = { sent: 0, ok: 0, notFound: 0, errors: 0 };
  return { sent: 0, ok: 0, errors: 0, ops, errorKinds: {}, retries: 0, minUs: 0, maxUs: 0 };
}

export function countSent(t: Tally, op: OpKind): void {
  t.sent++;
  (t.ops[OP_NAMES[op]] as OpCounts).sent++;
}

export function countDone(t: Tally, op: OpKind, outcome: Outcome, errorKind: string | null, retries: number): void {
  const c = t.ops[OP_NAMES[op]] as OpCounts;
  t.retries += retries;
  if (outcome === 2) {
    t.errors++;
    c.errors++;
    const kind = errorKind ?? 'unknown';
    t.errorKinds[kind] = (t.errorKinds[kind] ?? 0) + 1;
    return;
  }
  t.ok++;
  c.ok++;
  if (outcome === 1) c.notFound++;
}

export function countLatency(t: Tally, us: number): void {
  if (t.minUs === 0 || us < t.minUs) t.minUs = us;
  if (us > t.maxUs) t.maxUs = us;
}

/** Adds `b` into `a`. */
export function mergeTally(a: Tally, b: Tally): void {
  a.sent += b.sent;
  a.ok += b.ok;
  a.errors += b.errors;
  a.retries += b.retries;
  for (const n of OP_NAMES) {
    const x = a.ops[n];
    const y = b.ops[n];
    x.sent += y.sent;
    x.ok += y.ok;
    x.notFound += y.notFound;
    x.errors += y.errors;
  }
  for (const [k, v] of Object.entries(b.errorKinds)) a.errorKinds[k] = (a.errorKinds[k] ?? 0) + v;
  if (b.minUs > 0 && (a.minUs === 0 || b.minUs < a.minUs)) a.minUs = b.minUs;
  if (b.maxUs > a.maxUs) a.maxUs = b.maxUs;
}
