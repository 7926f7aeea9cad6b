import { KvError } from '../../errors.js';
import type { Engine } from './engine.js';

/** How long a look at the engine may take before it counts as a failure. */
const PING_TIMEOUT_MS = 2000;

export interface HealthEvents {
  /** The engine answers again (or for the first time). */
  readonly ready?: (engine: string) => void;
  /** The engine stopped answering; `reason` says how. */
  readonly lost?: (engine: string, reason: string) => void;
}

/**
 * Whether a gateway's engine answers: looked at every interval, and at once after an
 * operation failed to reach it. Not ready until the first answer, so that a gateway
 * started before its engine is not ready (/readyz 503, INFO backend_status) until it is.
 * Also keeps INFO's key count, read at each look.
 */
export class EngineHealth {
  private isReady = false;
  private reason = 'not connected yet';
  private timer: NodeJS.Timeout | null = null;
  private looking = false;
  private stopped = false;
  private nextLookAt = 0;
  /** Keys held, as of the last look (INFO keyspace). */
  keys = 0;
  /** Looks that failed since the last answer (INFO). */
  failures = 0;

  constructor(
    private readonly engine: Engine,
    private readonly intervalMs: number,
    private readonly events: HealthEvents,
  ) {}

  get ready(): boolean {
    return this.isReady;
  }

  get status(): string {
    return this.isReady ? 'ready' : this.reason;
  }

  start(): void {
    this.stopped = false;
    void this.look();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Null while the engine answers; else the error operations fail with. */
  refusal(): KvError | null {
    if (this.isReady) return null;
    return new KvError(
      'BACKEND_UNAVAILABLE',
      `the ${this.engine.name} backend is not reachable (${this.reason}); nothing was applied. The gateway reconnects by itself: try again`,
    );
  }

  /** An operation could not reach the engine: look again soon (a look decides readiness, not one failed request). */
  failed(): void {
    // Only brought forward: failures that keep coming must not keep pushing the look away.
    if (!this.looking && this.nextLookAt - Date.now() > 100) this.schedule(100);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.nextLookAt = Date.now() + ms;
    this.timer = setTimeout(() => void this.look(), ms);
    this.timer.unref();
  }

  private async look(): Promise<void> {
    if (this.stopped || this.looking) return;
    this.looking = true;
    try {
      await withTimeout(this.engine.ping(), PING_TIMEOUT_MS);
      this.keys = await withTimeout(this.engine.dbsize(), PING_TIMEOUT_MS);
      this.failures = 0;
      if (!this.isReady) {
        this.isReady = true;
        this.events.ready?.(this.engine.name);
      }
    } catch (err) {
      this.failures++;
      // A look is a read, and the refusal it leads to says nothing was applied: a write's outcome is no part of the reason.
      const reason = (err instanceof Error ? err.message : String(err)).replace(/; a write may or may not have been applied/, '');
      if (this.isReady) this.events.lost?.(this.engine.name, reason);
      this.isReady = false;
      this.reason = reason;
    } finally {
      this.looking = false;
      this.schedule(this.intervalMs);
    }
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
