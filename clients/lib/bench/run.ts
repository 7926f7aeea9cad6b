import { Worker } from 'node:worker_threads';
import { KvError } from '../../../src/errors.js';
import { addEncoded, createHistogram, summarize, type Histogram, type LatencySummary } from './latency.js';
import { isDatagram, laneShare, type BenchOptions } from './options.js';
import { formatAddress } from '../server-list.js';
import { emptyTally, ErrorKind, mergeTally, type OpCounts, type Tally } from './tally.js';
import type { FromWorker, ToWorker, WorkerInput } from './worker-messages.js';
import type { OpName } from './workload.js';

/** The live figures, about twice a second. */
export interface ProgressSnapshot {
  readonly phase: 'warmup' | 'run' | 'drain';
  /** Seconds since the start (warm-up included). */
  readonly elapsedS: number;
  /** Completions per second over the last interval (warm-up included). */
  readonly opsPerSec: number;
  /** p99 latency over the last interval, µs (0 when not tracked). */
  readonly p99Us: number;
  /** Measured operations sent and done so far. */
  readonly sent: number;
  readonly done: number;
  readonly errors: number;
}

export interface RunHooks {
  readonly onProgress?: (p: ProgressSnapshot) => void;
  /** Track interval latencies for onProgress (costs a little). */
  readonly progressLatency?: boolean;
  /** Stop when no operation has succeeded for this long, in ms (0: never). */
  readonly stallMs?: number;
  /** Aborting stops the run early; the result still counts everything sent. */
  readonly signal?: AbortSignal;
}

/**
 * One run's figures: what the human table shows and what --json prints
 * (README, "kv-bench": the JSON fields).
 */
export interface BenchResult {
  readonly tool: 'kv-bench';
  readonly transport: string;
  readonly target: string;
  readonly config: {
    readonly threads: number;
    readonly connections: number;
    readonly pipeline: number;
    readonly inflight: number;
    readonly ratio: string;
    readonly keys: number;
    readonly valueSize: number;
    readonly durationS: number | null;
    readonly requests: number | null;
    readonly warmupS: number;
    readonly rate: number | null;
    readonly seed: number;
    readonly timeoutMs: number;
    readonly retries: number;
    readonly preload: boolean;
  };
  /** Measured seconds: from the end of the warm-up to the last measured completion. */
  readonly elapsedS: number;
  readonly sent: number;
  readonly ok: number;
  readonly errors: number;
  /** GETs and DELs of a missing key: successes, counted inside ok. */
  readonly notFound: number;
  /** ok / elapsedS. */
  readonly opsPerSec: number;
  readonly ops: Readonly<Record<OpName, Readonly<OpCounts>>>;
  /** Successful operations only, in microseconds. */
  readonly latencyUs: LatencySummary;
  readonly errorKinds: Readonly<Record<string, number>>;
  /** UDP transports: requests sent again, and requests that gave up after every retry. */
  readonly udp: { readonly retries: number; readonly timeouts: number } | null;
  /** --rate: the rate asked for, and operations due that never left (every slot was busy). */
  readonly openLoop: { readonly rate: number; readonly unsent: number } | null;
  /** --preload: keys PUT before the run, and how many of those failed. */
  readonly preload: { readonly keys: number; readonly errors: number } | null;
  /** Why the run ended early (server gone, stalled, interrupted), or null. */
  readonly aborted: { readonly code: string; readonly message: string } | null;
  /** Each server's share, in the order given (one entry with one server). */
  readonly servers: readonly ServerResult[];
}

/** One server's part of a run: the connections (or requests in flight) it was given, and what they did. */
export interface ServerResult {
  readonly target: string;
  readonly connections: number;
  readonly inflight: number;
  readonly sent: number;
  readonly ok: number;
  readonly errors: number;
  readonly notFound: number;
  readonly opsPerSec: number;
  readonly latencyUs: LatencySummary;
  readonly errorKinds: Readonly<Record<string, number>>;
}

const WORKER_URL = new URL('./worker.js', import.meta.url);

interface WorkerState {
  readonly worker: Worker;
  done: Extract<FromWorker, { t: 'done' }> | null;
}

/**
 * Runs a benchmark on `options.threads` worker threads and merges what they
 * measured. Rejects (KvError, code CONNECTION or TIMEOUT) when the server cannot
 * be reached at all; a run that starts and is cut short resolves, with
 * `aborted` set and every operation sent still counted.
 */
export async function runBench(o: BenchOptions, hooks: RunHooks = {}): Promise<BenchResult> {
  const states: WorkerState[] = [];
  const started = { value: false };
  let aborted: { code: string; message: string } | null = null;
  let window = { ok: 0, errors: 0, reports: 0, hist: createHistogram() };
  const measured = { sent: new Array<number>(o.threads).fill(0), done: new Array<number>(o.threads).fill(0) };
  let preloadErrors = 0;
  let t0 = Date.now();
  let lastOkAt = Date.now();
  let lastTick = Date.now();

  const stopAll = (reason: { code: string; message: string } | null) => {
    aborted ??= reason;
    // Cut short: what is outstanding is counted `unfinished` now, not waited for.
    for (const s of states) s.worker.postMessage({ t: 'stop', drain: false } satisfies ToWorker);
  };

  let onMessageFor: (i: number, m: FromWorker) => void = () => undefined;
  const allDone = new Promise<void>((resolveAll, rejectAll) => {
    let ready = 0;
    let finished = 0;
    let failed = false;
    const fail = (err: KvError) => {
      if (failed) return;
      failed = true;
      for (const s of states) void s.worker.terminate();
      rejectAll(err);
    };
    onMessageFor = (i, m) => {
      const s = states[i] as WorkerState;
      switch (m.t) {
        case 'fatal':
          if (!started.value) fail(new KvError(m.code === 'TIMEOUT' ? 'TIMEOUT' : m.code === 'INTERNAL' ? 'SERVER' : 'CONNECTION', m.message));
          else stopAll({ code: m.code, message: m.message });
          break;
        case 'ready':
          preloadErrors += m.preload?.errors ?? 0;
          if (++ready === o.threads) {
            started.value = true;
            t0 = Date.now();
            for (const st of states) st.worker.postMessage({ t: 'start' } satisfies ToWorker);
          }
          break;
        case 'progress':
          window.ok += m.ok;
          window.reports++;
          window.errors += m.errors;
          if (m.histogram !== null) addEncoded(window.hist, m.histogram);
          measured.sent[i] = m.sent;
          measured.done[i] = m.done;
          if (m.ok > 0) lastOkAt = Date.now();
          break;
        case 'done':
          s.done = m;
          if (m.fatal) stopAll(m.fatal);
          if (++finished === o.threads) resolveAll();
          break;
      }
    };
    for (let i = 0; i < o.threads; i++) {
      const input: WorkerInput = { options: o, index: i, progress: hooks.progressLatency ?? false };
      const worker = new Worker(WORKER_URL, { workerData: input });
      states.push({ worker, done: null });
      worker.on('message', (m: FromWorker) => onMessageFor(i, m));
      worker.on('error', (err) => fail(new KvError('SERVER', `load thread ${i} failed: ${err.stack ?? err.message}`, { cause: err })));
      worker.on('exit', () => {
        if ((states[i] as WorkerState).done === null) fail(new KvError('CONNECTION', `load thread ${i} ended before finishing its run`));
      });
    }
  });

  // Live display and stall watch, both from the progress messages.
  const ticker = setInterval(() => {
    const now = Date.now();
    if (!started.value) {
      lastOkAt = now;
      lastTick = now;
      return;
    }
    const stallMs = hooks.stallMs ?? 0;
    if (stallMs > 0 && now - lastOkAt > stallMs && aborted === null) {
      stopAll({ code: 'TIMEOUT', message: `no operation has succeeded for ${Math.round(stallMs / 1000)} s: the server stopped answering; stopping (see --stall-timeout)` });
    }
    if (window.reports === 0) return; // nothing heard since the last tick: keep the line as it is
    if (hooks.onProgress) {
      const secs = Math.max(0.001, (now - lastTick) / 1000);
      const elapsedS = (now - t0) / 1000;
      const sent = measured.sent.reduce((a, b) => a + b, 0);
      const done = measured.done.reduce((a, b) => a + b, 0);
      const phase = elapsedS < o.warmupS ? 'warmup' : o.durationS !== null && elapsedS > o.warmupS + o.durationS ? 'drain' : 'run';
      hooks.onProgress({ phase, elapsedS, opsPerSec: (window.ok + window.errors) / secs, p99Us: window.hist.totalCount > 0 ? window.hist.getValueAtPercentile(99) : 0, sent, done, errors: window.errors });
    }
    window.hist.destroy();
    window = { ok: 0, errors: 0, reports: 0, hist: createHistogram() };
    lastTick = now;
  }, 500);
  const onAbort = () => stopAll({ code: 'INTERRUPTED', message: 'interrupted; the figures cover the run so far' });
  hooks.signal?.addEventListener('abort', onAbort, { once: true });

  try {
    await allDone;
  } finally {
    clearInterval(ticker);
    hooks.signal?.removeEventListener('abort', onAbort);
  }
  return merge(o, states.map((s) => s.done as NonNullable<WorkerState['done']>), aborted, preloadErrors);
}

function merge(o: BenchOptions, parts: ReadonlyArray<NonNullable<WorkerState['done']>>, aborted: BenchResult['aborted'], preloadErrors: number): BenchResult {
  const tally: Tally = emptyTally();
  const hist: Histogram = createHistogram();
  let from = Infinity;
  let to = 0;
  let unsent = 0;
  for (const p of parts) {
    mergeTally(tally, p.tally);
    addEncoded(hist, p.histogram);
    from = Math.min(from, p.measureFrom);
    to = Math.max(to, p.lastDone);
    unsent += p.unsent;
  }
  const elapsedS = to > from ? (to - from) / 1000 : 0;
  const latencyUs = summarize(hist, { min: tally.minUs, max: tally.maxUs });
  hist.destroy();
  const notFound = tally.ops.get.notFound + tally.ops.del.notFound;
  const perSecond = (ok: number) => (elapsedS > 0 ? Math.round((ok / elapsedS) * 10) / 10 : 0);
  return {
    tool: 'kv-bench',
    transport: o.transport,
    target: o.servers.map(formatAddress).join(','),
    config: {
      threads: o.threads,
      connections: o.connections,
      pipeline: o.pipeline,
      inflight: o.inflight,
      ratio: `${o.ratio.get}:${o.ratio.put}:${o.ratio.del}`,
      keys: o.keys,
      valueSize: o.valueSize,
      durationS: o.durationS,
      requests: o.requests,
      warmupS: o.warmupS,
      rate: o.rate,
      seed: o.seed,
      timeoutMs: o.timeoutMs,
      retries: o.retries,
      preload: o.preload,
    },
    elapsedS: Math.round(elapsedS * 1000) / 1000,
    sent: tally.sent,
    ok: tally.ok,
    errors: tally.errors,
    notFound,
    opsPerSec: elapsedS > 0 ? Math.round((tally.ok / elapsedS) * 10) / 10 : 0,
    ops: tally.ops,
    latencyUs,
    errorKinds: tally.errorKinds,
    udp: isDatagram(o.transport) ? { retries: tally.retries, timeouts: tally.errorKinds[ErrorKind.TIMEOUT] ?? 0 } : null,
    openLoop: o.rate === null ? null : { rate: o.rate, unsent },
    preload: o.preload ? { keys: o.keys, errors: preloadErrors } : null,
    aborted,
    servers: o.servers.map((s, k) => serverResult(o, parts, k, formatAddress(s), perSecond)),
  };
}

function serverResult(o: BenchOptions, parts: ReadonlyArray<NonNullable<WorkerState['done']>>, k: number, target: string, perSecond: (ok: number) => number): ServerResult {
  const t = emptyTally();
  const h = createHistogram();
  for (const p of parts) {
    const x = p.servers[k];
    if (x === undefined) continue;
    mergeTally(t, x.tally);
    addEncoded(h, x.histogram);
  }
  const latencyUs = summarize(h, { min: t.minUs, max: t.maxUs });
  h.destroy();
  let connections = 0;
  let inflight = 0;
  for (let i = 0; i < o.threads; i++) {
    const share = laneShare(o, i);
    share.laneServers.forEach((server, j) => {
      if (server !== k) return;
      if (isDatagram(o.transport)) inflight += share.laneDepths[j] as number;
      else connections++;
    });
  }
  return { target, connections, inflight, sent: t.sent, ok: t.ok, errors: t.errors, notFound: t.ops.get.notFound + t.ops.del.notFound, opsPerSec: perSecond(t.ok), latencyUs, errorKinds: t.errorKinds };
}
