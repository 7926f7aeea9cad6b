import type { Outcome } from './tally.js';
import type { OpKind } from './workload.js';
import type { ServerAddress } from '../server-list.js';

/**
 * How an operation ended: its outcome, the error kind when it failed, and how
 * many times its request was sent again (UDP retries; 0 over TCP).
 */
export type Done = (outcome: Outcome, errorKind: string | null, retries: number) => void;

/**
 * One path to the server that carries up to `depth` requests at once: a TCP
 * connection (depth = --pipeline) or a UDP socket (depth = its share of
 * --inflight). `done` is never called from inside `send`, so the load loop can
 * send again from `done` without recursing.
 */
export interface Lane {
  readonly depth: number;
  /** Which of the servers (BenchOptions.servers) it talks to; 0 when there is one. */
  readonly server?: number;
  /** Requests sent and not yet done. */
  readonly outstanding: number;
  /** False while the lane cannot send (a TCP connection being re-opened). */
  readonly ready: boolean;
  send(op: OpKind, key: Buffer, value: Buffer, done: Done): void;
}

export interface TransportEvents {
  /** A lane that was not ready is ready again. */
  readonly onReady: (lane: Lane) => void;
  /** The transport cannot go on (the server went away for good): the run stops. */
  readonly onFatal: (err: Error) => void;
}

export interface Transport {
  readonly lanes: readonly Lane[];
  /**
   * Ends every request still outstanding with `kind` (so that each is counted),
   * then closes the sockets.
   */
  close(kind: string): Promise<void>;
}

/** What a thread is given to open its share of the transport. */
export interface LaneShare {
  /** The first server (the one memcached-udp drives). */
  readonly host: string;
  readonly port: number;
  /** Every server, and for each of this thread's lanes the index of its server and its depth. */
  readonly servers: readonly ServerAddress[];
  readonly laneServers: readonly number[];
  readonly laneDepths: readonly number[];
  /** TCP: connections; UDP: sockets (always 1). */
  readonly lanes: number;
  /** Requests outstanding per lane. */
  readonly depth: number;
  /** TCP: per-request timeout; UDP: the first wait before a retry. In ms. */
  readonly timeoutMs: number;
  /** UDP: resends after the first send. */
  readonly retries: number;
}
