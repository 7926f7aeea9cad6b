/**
 * The active expiry sweep: reclaims the expired keys nobody reads, in short slices on a
 * timer so that clients are served between them.
 */
import { performance } from 'node:perf_hooks';
import type { ByteString } from '../../store/bytes.js';
import type { Keyspace } from './keyspace.js';
import { storedExpiry } from './stored-value.js';

/** The active sweep: a slice every SWEEP_PERIOD_MS, each at most SWEEP_SLICE_MS. */
const SWEEP_PERIOD_MS = 100;
const SWEEP_SLICE_MS = 1;
/** While a slice finds more than this share of the keys it looks at expired, the next slice follows at once. */
const SWEEP_AGAIN_SHARE = 0.1;
/** Slices that follow at once stop when their own time adds up to this share of the period: the rest is for clients. */
const SWEEP_MAX_DUTY = 0.4;
/** Keys looked at between two looks at the clock. */
const SWEEP_BATCH = 32;

export class ActiveSweep {
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;

  constructor(
    private readonly keyspace: Keyspace,
    private readonly now: () => number,
    /** Deletes an expired key as lazy expiry does: counted, and logged as a delete. */
    private readonly expire: (key: ByteString) => void,
  ) {}

  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => this.period(), SWEEP_PERIOD_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    if (this.immediate !== null) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
  }

  get running(): boolean {
    return this.timer !== null;
  }

  private period(): void {
    if (this.immediate !== null) return; // the previous period's slices are still going
    // The budget counts the slices' own time, not the wall time between them: on a busy
    // server, clients' turns between slices would otherwise use up the sweep's share.
    let spent = 0;
    const slice = (): void => {
      this.immediate = null;
      const start = performance.now();
      const { looked, expired } = this.sweep(SWEEP_SLICE_MS);
      spent += performance.now() - start;
      const busy = looked > 0 && expired / looked > SWEEP_AGAIN_SHARE;
      if (busy && spent < SWEEP_PERIOD_MS * SWEEP_MAX_DUTY && this.timer !== null) {
        this.immediate = setImmediate(hop);
      }
    };
    // Between slices the event loop reads clients' commands (setImmediate comes after I/O),
    // and their replies are written on a setImmediate of their own (WriteBatch). Queued at
    // once, the next slice would be ahead of those replies in the same turn, and they would
    // wait for it; one hop through the next turn puts it behind them.
    const hop = (): void => {
      this.immediate = setImmediate(slice);
    };
    slice();
  }

  /**
   * One slice of the sweep: looks at volatile keys in turn, from where the last slice
   * stopped, deleting the expired ones, for at most `budgetMs` or one round of them.
   */
  sweep(budgetMs: number): { looked: number; expired: number } {
    const total = this.keyspace.volatileCount;
    if (total === 0) return { looked: 0, expired: 0 };
    const deadline = performance.now() + budgetMs;
    const now = this.now();
    const volatileKeys = this.keyspace.volatileKeys;
    const map = this.keyspace.map;
    let looked = 0;
    let expired = 0;
    while (looked < total) {
      for (let i = 0; i < SWEEP_BATCH && looked < total; i++) {
        const key = volatileKeys.next();
        if (key === undefined) return { looked, expired };
        looked++;
        const s = map.get(key);
        if (s !== undefined && storedExpiry(s) < now) {
          this.expire(key);
          expired++;
        }
      }
      if (performance.now() >= deadline) break;
    }
    return { looked, expired };
  }
}
