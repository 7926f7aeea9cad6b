import { performance } from 'node:perf_hooks';
import { createHistogram, recordMs, type Histogram } from './latency.js';
import { countDone, countLatency, countSent, emptyTally, ErrorKind, Outcome, type Tally } from './tally.js';
import type { Lane, Transport } from './transport.js';
import type { Workload } from './workload.js';

/** How far ahead of its time an open-loop operation may leave: Node's timer granularity. */
const LOOKAHEAD_MS = 1;

export interface LoopConfig {
  /** Load before measuring; operations sent during it are not counted. */
  readonly warmupMs: number;
  /** Measured time (null: until `requests` are sent). */
  readonly durationMs: number | null;
  /** Measured operations to send (null: for `durationMs`). */
  readonly requests: number | null;
  /** Open loop: operations per second to start, on a fixed schedule. Null: closed loop. */
  readonly rate: number | null;
  /** How long to wait at the end for requests still outstanding before counting them `unfinished`. */
  readonly drainMs: number;
  /** How many servers the lanes talk to (Lane.server), for the per-server figures. */
  readonly servers?: number;
}

/** One server's share of the measured figures. */
export interface ServerFigures {
  readonly tally: Tally;
  readonly histogram: Histogram;
}

/** What the progress display reads and then resets. */
export interface Interval {
  ok: number;
  errors: number;
  readonly histogram: Histogram;
}

export interface LoopResult {
  readonly tally: Tally;
  readonly histogram: Histogram;
  /** Wall-clock ms (performance.timeOrigin-based) when measuring began and when the last measured operation ended. */
  readonly measureFrom: number;
  readonly lastDone: number;
  /** Open loop with --duration: operations the schedule called for that never left, because every slot was busy. */
  readonly unsent: number;
  /** The same counts and latencies, by server (LoopConfig.servers of them). */
  readonly servers: readonly ServerFigures[];
}

/**
 * Keeps the lanes busy and counts what comes back.
 *
 * - Closed loop (no rate): each lane always has `depth` requests outstanding; a
 *   completion sends the next one. Latency is from send to reply.
 * - Open loop (`rate`): operations are due on a fixed schedule, one every
 *   1/rate s, whether or not earlier ones have come back. Each is sent as soon
 *   as it is due and a slot is free, and its latency is measured from when it
 *   was due, not from when it left: a stalled server then shows as high
 *   latency, instead of quietly slowing the generator down (coordinated
 *   omission, as wrk2 and HdrHistogram describe it).
 *
 * Only operations due after the warm-up are counted. Each one counted in `sent`
 * ends in `ok` or `errors`: at the end the loop waits up to `drainMs` for the
 * stragglers, and the transport's close ends the rest as `unfinished`.
 */
export class LoadLoop {
  readonly tally = emptyTally();
  readonly histogram = createHistogram();
  readonly interval: Interval = { ok: 0, errors: 0, histogram: createHistogram() };
  readonly perServer: ServerFigures[];
  private readonly lanes: readonly Lane[];
  private stopping = false;
  private outstanding = 0;
  private t0 = 0;
  private measureFrom = 0;
  private endAt = Infinity;
  private lastDone = 0;
  private nextDue = 0;
  private readonly gapMs: number;
  private rr = 0;
  private unsent = 0;
  private timers: NodeJS.Timeout[] = [];
  private ticker: NodeJS.Timeout | null = null;
  private finished: (() => void) | null = null;
  private fatal: Error | null = null;

  constructor(
    private readonly transport: Transport,
    private readonly workload: Workload,
    private readonly cfg: LoopConfig,
  ) {
    this.lanes = transport.lanes;
    this.perServer = Array.from({ length: cfg.servers ?? 1 }, () => ({ tally: emptyTally(), histogram: createHistogram() }));
    this.gapMs = cfg.rate === null ? 0 : 1000 / cfg.rate;
  }

  /** Runs to the end and drains. Rejects with the transport's fatal error, if it had one (the tally is still valid). */
  run(): Promise<LoopResult> {
    return new Promise<void>((resolve) => {
      this.finished = resolve;
      this.t0 = performance.now();
      this.measureFrom = this.t0 + this.cfg.warmupMs;
      this.lastDone = this.measureFrom;
      if (this.cfg.durationMs !== null) {
        this.endAt = this.measureFrom + this.cfg.durationMs;
        this.timers.push(setTimeout(() => this.stop(), this.endAt - this.t0));
      }
      this.nextDue = this.t0;
      if (this.cfg.requests === 0) return this.stop();
      this.pump();
    }).then(() => {
      const origin = performance.timeOrigin;
      const result: LoopResult = {
        tally: this.tally,
        histogram: this.histogram,
        measureFrom: origin + this.measureFrom,
        lastDone: origin + this.lastDone,
        unsent: this.unsent,
        servers: this.perServer,
      };
      if (this.fatal) throw Object.assign(this.fatal, { result });
      return result;
    });
  }

  /** A lane came back (reconnected): put it to work. */
  laneReady(lane: Lane): void {
    if (this.stopping) return;
    if (this.cfg.rate === null) this.fill(lane);
    else this.dispatchDue();
  }

  /** The transport cannot go on: stop now, ending what is outstanding. */
  fail(err: Error): void {
    this.fatal ??= err;
    this.stop();
    void this.transport.close(ErrorKind.CONNECTION).then(() => this.maybeFinish());
  }

  /**
   * Stops sending; the run ends once what is outstanding is done or the drain
   * time is up. Without `drain`, what is outstanding is ended now, as `unfinished`.
   */
  stop(drain = true): void {
    if (this.stopping) {
      if (!drain) void this.transport.close(ErrorKind.UNFINISHED).then(() => this.maybeFinish());
      return;
    }
    this.stopping = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
    if (this.ticker) clearTimeout(this.ticker);
    this.ticker = null;
    if (this.cfg.rate !== null && this.cfg.durationMs !== null) {
      // Operations the schedule called for, within the measured time, that never left.
      const until = Math.min(performance.now(), this.endAt);
      const firstDue = Math.max(this.nextDue, this.measureFrom);
      if (until > firstDue) this.unsent += Math.floor((until - firstDue) / this.gapMs) + 1;
    }
    if (this.outstanding === 0) return this.maybeFinish();
    const cut = () => void this.transport.close(ErrorKind.UNFINISHED).then(() => this.maybeFinish());
    if (!drain) return cut();
    this.timers.push(setTimeout(cut, this.cfg.drainMs));
  }

  private maybeFinish(): void {
    if (!this.stopping || this.outstanding > 0 || this.finished === null) return;
    for (const t of this.timers) clearTimeout(t);
    const done = this.finished;
    this.finished = null;
    done();
  }

  private pump(): void {
    if (this.cfg.rate === null) for (const lane of this.lanes) this.fill(lane);
    else this.dispatchDue();
  }

  /** Closed loop: tops the lane up to its depth. */
  private fill(lane: Lane): void {
    while (!this.stopping && lane.ready && lane.outstanding < lane.depth) this.issue(lane, performance.now());
  }

  /**
   * Open loop: sends every operation that is due, while a slot is free; then
   * waits for the next one. Node's timers fire on whole milliseconds, and late,
   * so operations due within LOOKAHEAD_MS go now: one sent early is measured from
   * when it left, one sent late from when it was due.
   */
  private dispatchDue(): void {
    if (this.stopping) return;
    const now = performance.now();
    while (this.nextDue <= now + LOOKAHEAD_MS && !this.stopping) {
      const lane = this.freeLane();
      if (lane === null) return; // a completion calls again
      const due = this.nextDue;
      this.nextDue += this.gapMs;
      this.issue(lane, due > now ? now : due, due);
    }
    if (!this.stopping && this.ticker === null) {
      this.ticker = setTimeout(() => {
        this.ticker = null;
        this.dispatchDue();
      }, Math.max(0, this.nextDue - LOOKAHEAD_MS - performance.now()));
    }
  }

  private freeLane(): Lane | null {
    const n = this.lanes.length;
    for (let i = 0; i < n; i++) {
      const lane = this.lanes[(this.rr + i) % n] as Lane;
      if (lane.ready && lane.outstanding < lane.depth) {
        this.rr = (this.rr + i + 1) % n;
        return lane;
      }
    }
    return null;
  }

  /**
   * Sends one operation; `start` is when its latency is measured from, `due`
   * when the schedule called for it (the same, in a closed loop): which decides
   * whether it is measured or warm-up, and when the run is over.
   */
  private issue(lane: Lane, start: number, due = start): void {
    if (due >= this.endAt) return this.stop();
    const measured = due >= this.measureFrom;
    if (measured && this.cfg.requests !== null && this.tally.sent >= this.cfg.requests) return this.stop();
    const w = this.workload;
    const op = w.nextOp();
    const key = w.key(w.nextKeyIndex());
    const ps = this.perServer[lane.server ?? 0] as ServerFigures;
    if (measured) {
      countSent(this.tally, op);
      countSent(ps.tally, op);
    }
    this.outstanding++;
    lane.send(op, key, w.value, (outcome, kind, retries) => {
      const end = performance.now();
      this.outstanding--;
      const iv = this.interval;
      if (outcome === Outcome.ERROR) iv.errors++;
      else {
        iv.ok++;
        recordMs(iv.histogram, end - start);
      }
      if (measured) {
        countDone(this.tally, op, outcome, kind, retries);
        countDone(ps.tally, op, outcome, kind, retries);
        if (outcome !== Outcome.ERROR) {
          const us = Math.max(1, Math.round((end - start) * 1000));
          recordMs(this.histogram, end - start);
          recordMs(ps.histogram, end - start);
          countLatency(this.tally, us);
          countLatency(ps.tally, us);
        }
        this.lastDone = end;
      }
      if (this.stopping) this.maybeFinish();
      else if (this.cfg.rate === null) this.fill(lane);
      else this.dispatchDue();
    });
    if (measured && this.cfg.requests !== null && this.tally.sent >= this.cfg.requests) this.stop();
  }
}
