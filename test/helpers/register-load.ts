import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { afterEach } from 'vitest';
import { checkRegisterHistory, describeFailure, UNKNOWN_RESPONSE, type HistoryEntry } from './linearizability.js';

/**
 * A bounded load of GETs and SETs through gateways, for fault tests: each worker runs one
 * command at a time and records every one (what, when, and how it ended), so that the
 * test can check the history per key (linearizability.ts) or count what an engine lost.
 */

/** How a command ended, as the client can tell. */
export const Outcome = {
  /** A reply that is not an error. */
  ok: 'ok',
  /** The gateway answered an error that says nothing was applied (errors.ts: unless the message says it may have been). */
  refused: 'refused',
  /** Never left the client: its connection was down (enableOfflineQueue: false). */
  unsent: 'unsent',
  /** The reply was lost (the connection dropped, a timeout) or says the write may or may not have been applied. */
  indeterminate: 'indeterminate',
} as const;
export type Outcome = (typeof Outcome)[keyof typeof Outcome];

export interface LoadRecord {
  readonly client: string;
  readonly kind: 'put' | 'get';
  readonly key: string;
  /** put: the value written (unique); get: the value read (null: absent or failed). */
  readonly value: string | null;
  readonly invoke: number;
  readonly response: number;
  readonly outcome: Outcome;
  readonly error?: string;
}

export interface LoadOptions {
  /** One connection per gateway for each worker: a worker moves on to the next when its connection fails. */
  readonly connections: ReadonlyArray<readonly Redis[]>;
  /** The key of a worker's n-th command. */
  readonly keyFor: (worker: number, n: number) => string;
  /** Share of commands that are GETs (0: writes only). */
  readonly readShare: number;
  /** Bounds: commands per worker, and the time the whole load may run. */
  readonly maxOpsPerWorker: number;
  readonly maxMs: number;
  /** A worker waits this long after a command failed, as a client backs off (default 50 ms). */
  readonly pauseAfterFailureMs?: number;
  /** A worker waits this long between two commands (default 0), to spread a bounded load over a slow fault. */
  readonly pauseMs?: number;
}

/** A client's own view of a connection failure, told apart from a reply the gateway sent. */
const UNSENT = /Stream isn't writeable|enableOfflineQueue/;
/** errors.ts: BACKEND_UNAVAILABLE says so when a write's outcome is not known. */
const MAY_HAVE_APPLIED = /may or may not have been applied/;

export class RegisterLoad {
  readonly records: LoadRecord[] = [];
  private stopped = false;
  private ended = false;
  private readonly done: Promise<void>;
  private readonly startedAt = performance.now();

  constructor(private readonly options: LoadOptions) {
    this.done = Promise.all(options.connections.map((conns, w) => this.work(w, conns))).then(() => {
      this.ended = true;
    });
  }

  /** Acknowledged writes so far, invoked after `since` (performance.now()) when given. */
  acked(since = -Infinity): number {
    let n = 0;
    for (const r of this.records) if (r.kind === 'put' && r.outcome === Outcome.ok && r.invoke >= since) n++;
    return n;
  }

  /** Stops the workers after their command in flight, and waits for them. */
  async stop(): Promise<LoadRecord[]> {
    this.stopped = true;
    await this.done;
    return this.records;
  }

  /** Runs `fault` while the load goes on; if it throws, stops the load first, so that no worker outlives the test. */
  async during<T>(fault: () => Promise<T>): Promise<T> {
    try {
      return await fault();
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /**
   * Waits (looking every 50 ms) until `check` holds. When the load reaches its bounds first,
   * or `timeoutMs` passes, stops it and throws, saying what was waited for and how the load went.
   */
  async waitFor(check: () => boolean, what: string, timeoutMs = this.options.maxMs): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!check()) {
      if (this.ended || performance.now() > deadline) {
        await this.stop();
        const why = this.ended ? 'the load reached its bounds' : `${timeoutMs} ms passed`;
        throw new Error(`${why} before ${what}: ${describeLoad(this.records)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  private async work(worker: number, conns: readonly Redis[]): Promise<void> {
    const { keyFor, readShare, maxOpsPerWorker, maxMs } = this.options;
    let at = worker % conns.length;
    for (let n = 0; n < maxOpsPerWorker && !this.stopped && performance.now() - this.startedAt < maxMs; n++) {
      const conn = conns[at] as Redis;
      const key = keyFor(worker, n);
      const kind = Math.random() < readShare ? 'get' : 'put';
      const record = await runOne(conn, `w${worker}`, kind, key, `w${worker}-${n}`);
      this.records.push(record);
      const pause = record.outcome === Outcome.ok ? (this.options.pauseMs ?? 0) : (this.options.pauseAfterFailureMs ?? 50);
      if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause));
      // A dead connection (a gateway killed): go on through the next gateway, as a client with several addresses does.
      if (record.outcome === Outcome.unsent || (record.outcome === Outcome.indeterminate && record.error !== undefined && !record.error.startsWith('CLUSTERDOWN'))) {
        at = (at + 1) % conns.length;
      }
    }
  }
}

/** Runs one GET or SET and records how it ended. */
export async function runOne(conn: Redis, client: string, kind: 'put' | 'get', key: string, value: string): Promise<LoadRecord> {
  const invoke = performance.now();
  try {
    const reply = kind === 'put' ? await conn.set(key, value) : await conn.get(key);
    const response = performance.now();
    return { client, kind, key, value: kind === 'put' ? value : reply, invoke, response, outcome: Outcome.ok };
  } catch (err) {
    const response = performance.now();
    const error = (err as Error).message;
    const replied = (err as Error).name === 'ReplyError';
    const outcome = UNSENT.test(error) ? Outcome.unsent : replied && !MAY_HAVE_APPLIED.test(error) ? Outcome.refused : Outcome.indeterminate;
    return { client, kind, key, value: kind === 'put' ? value : null, invoke, response, outcome, error };
  }
}

/**
 * Each key's history for the checker: acknowledged commands as they ran; a write whose
 * outcome is not known as one that may take effect at any time after it was sent, or never
 * (UNKNOWN_RESPONSE); failed reads and writes the gateway refused are left out, as they changed nothing.
 */
export function historiesByKey(records: readonly LoadRecord[]): Map<string, HistoryEntry[]> {
  const out = new Map<string, HistoryEntry[]>();
  for (const r of records) {
    let entry: HistoryEntry | null = null;
    if (r.outcome === Outcome.ok) {
      entry = { op: r.kind === 'put' ? { kind: 'put', value: r.value as string } : { kind: 'get', value: r.value }, invoke: r.invoke, response: r.response, client: r.client };
    } else if (r.kind === 'put' && r.outcome === Outcome.indeterminate) {
      entry = { op: { kind: 'put', value: r.value as string }, invoke: r.invoke, response: UNKNOWN_RESPONSE, client: r.client };
    }
    if (entry === null) continue;
    const list = out.get(r.key) ?? [];
    list.push(entry);
    out.set(r.key, list);
  }
  return out;
}

/** The keys whose history is not linearizable, each with the checker's account. */
export function nonLinearizableKeys(records: readonly LoadRecord[]): string[] {
  const failures: string[] = [];
  for (const [key, history] of historiesByKey(records)) {
    const result = checkRegisterHistory(history);
    if (!result.ok) failures.push(`${key}: ${describeFailure(history, result)}`);
  }
  return failures;
}

/** Writes the gateway said were not applied whose value was read all the same (a broken promise of errors.ts). */
export function appliedDespiteRefusal(records: readonly LoadRecord[]): LoadRecord[] {
  const seen = new Set<string>();
  for (const r of records) if (r.kind === 'get' && r.outcome === Outcome.ok && r.value !== null) seen.add(r.value);
  return records.filter((r) => r.kind === 'put' && (r.outcome === Outcome.refused || r.outcome === Outcome.unsent) && seen.has(r.value as string));
}

/** How long after `since` (performance.now()) commands still failed, in ms (0: none failed). */
export function failingForMs(records: readonly LoadRecord[], since: number): number {
  let last = since;
  for (const r of records) if (r.outcome !== Outcome.ok && r.response >= since && r.response > last) last = r.response;
  return Math.round(last - since);
}

/** A summary of a load's outcomes, then each kind of error with its count (digits folded), for the test's output. */
export function describeLoad(records: readonly LoadRecord[]): string {
  const tally = (keys: Iterable<string>): Array<[string, number]> => {
    const counts = new Map<string, number>();
    for (const k of keys) counts.set(k, (counts.get(k) ?? 0) + 1);
    return [...counts].sort();
  };
  const outcomes = tally(records.map((r) => `${r.kind} ${r.outcome}`)).map(([k, n]) => `${k}: ${n}`);
  const errors = tally(records.flatMap((r) => (r.error === undefined ? [] : [`${r.kind} ${r.outcome}: ${r.error.replace(/\d+/g, 'N').slice(0, 160)}`])));
  return [outcomes.join(', '), ...errors.map(([e, n]) => `  ${n} x ${e}`)].join('\n');
}

/**
 * Load clients for a describe block, disconnected after each test: no offline queue (a
 * command on a dead connection fails at once, unsent) and no resend.
 */
export function loadClientFixture(): { connect(port: number): Promise<Redis> } {
  const open: Redis[] = [];
  afterEach(() => {
    for (const c of open.splice(0)) c.disconnect();
  });
  return {
    async connect(port) {
      const c = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 0, enableOfflineQueue: false, commandTimeout: 8000, lazyConnect: true, retryStrategy: (n) => Math.min(50 * n, 500) });
      // Failures reach the commands; an 'error' event with no listener would end the worker.
      c.on('error', () => undefined);
      open.push(c);
      await c.connect();
      return c;
    },
  };
}
