/**
 * The open-loop load of the latency benchmarks: requests leave on schedule whether or
 * not earlier ones were answered, so a server that stalls shows it as latency instead
 * of a closed loop hiding it by sending less.
 */
import { performance } from 'node:perf_hooks';
import type { TimedConnection } from '../persistence-common.js';

/** A connection with this many unanswered requests gets no more; those are counted as unsent. */
export const MAX_INFLIGHT_PER_CONN = 5000;

export interface PacedRequest {
  readonly command: Buffer;
  readonly done: (ms: number, error: boolean) => void;
}

export interface PacedLoad {
  stop(): void;
  /** Requests that were due but not sent, because their connection had MAX_INFLIGHT_PER_CONN unanswered. */
  readonly unsent: number;
}

/**
 * Sends `rate` requests a second over `conns`, round robin, from a 1 ms timer; the
 * n-th (from 1) is `request(n)`, built only when it is sent.
 */
export function startPacedLoad(conns: readonly TimedConnection[], rate: number, request: (n: number) => PacedRequest): PacedLoad {
  let due = 0;
  let unsent = 0;
  let rr = 0;
  const started = performance.now();
  const timer = setInterval(() => {
    const upTo = Math.floor(((performance.now() - started) * rate) / 1000);
    while (due < upTo) {
      due++;
      const c = conns[rr++ % conns.length] as TimedConnection;
      if (c.pending > MAX_INFLIGHT_PER_CONN) {
        unsent++;
        continue;
      }
      const r = request(due);
      c.send(r.command, r.done);
    }
  }, 1);
  return {
    stop: () => clearInterval(timer),
    get unsent() {
      return unsent;
    },
  };
}
