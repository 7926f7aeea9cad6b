import { ErrorKind, Outcome } from './tally.js';
import type { Lane, Transport } from './transport.js';
import { OpKind, type Workload } from './workload.js';

export interface PreloadResult {
  ok: number;
  errors: number;
  /** The kind of the first failed PUT, which stops the preload (null: none failed). */
  firstError: string | null;
}

/**
 * PUTs keys first, first+step, first+2·step … below workload.keys, keeping every
 * lane full; so that the GETs of the run find their keys. Not measured. Bounded
 * by the key count, and each request by the transport's timeout. The first PUT
 * that fails stops it: a server that cannot take the preload would only make
 * the run's figures meaningless, and a dead one would take a timeout per key.
 */
export class Preloader {
  private next: number;
  private outstanding = 0;
  private readonly result: PreloadResult = { ok: 0, errors: 0, firstError: null };
  private resolve: ((r: PreloadResult) => void) | null = null;

  constructor(
    private readonly transport: Transport,
    private readonly workload: Workload,
    first: number,
    private readonly step: number,
  ) {
    this.next = first;
  }

  run(): Promise<PreloadResult> {
    return new Promise((resolve) => {
      this.resolve = resolve;
      for (const lane of this.transport.lanes) this.fill(lane);
      this.maybeDone();
    });
  }

  laneReady(lane: Lane): void {
    this.fill(lane);
  }

  /** The transport failed: what is outstanding is ended by its close; stop sending. */
  fail(): void {
    this.next = this.workload.keys;
    void this.transport.close(ErrorKind.CONNECTION).then(() => this.maybeDone());
  }

  private fill(lane: Lane): void {
    const w = this.workload;
    while (lane.ready && lane.outstanding < lane.depth && this.next < w.keys) {
      const key = w.key(this.next);
      this.next += this.step;
      this.outstanding++;
      lane.send(OpKind.PUT, key, w.value, (outcome, kind) => {
        this.outstanding--;
        if (outcome === Outcome.ERROR) {
          this.result.errors++;
          if (this.result.firstError === null) {
            this.result.firstError = kind ?? 'unknown';
            this.next = w.keys;
          }
        } else this.result.ok++;
        this.fill(lane);
        this.maybeDone();
      });
    }
  }

  private maybeDone(): void {
    if (this.outstanding > 0 || this.next < this.workload.keys || this.resolve === null) return;
    const r = this.resolve;
    this.resolve = null;
    r(this.result);
  }
}
