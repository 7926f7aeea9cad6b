import type { ProgressSnapshot } from './run.js';

const BAR_WIDTH = 24;

/**
 * The live line on stderr: a bar, the time, the current ops/s and p99. Drawn
 * in place with a carriage return; `clear` wipes it before the results print.
 * The caller shows it only when stderr is a terminal.
 */
export class ProgressLine {
  private drawn = false;

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly total: { readonly warmupS: number; readonly durationS: number | null; readonly requests: number | null },
  ) {}

  update(p: ProgressSnapshot): void {
    const fraction =
      p.phase === 'warmup'
        ? p.elapsedS / Math.max(this.total.warmupS, 0.001)
        : this.total.requests !== null
          ? p.done / this.total.requests
          : (p.elapsedS - this.total.warmupS) / (this.total.durationS ?? 1);
    const f = Math.max(0, Math.min(1, fraction));
    const filled = Math.round(f * BAR_WIDTH);
    const bar = '#'.repeat(filled) + '-'.repeat(BAR_WIDTH - filled);
    const label = p.phase === 'warmup' ? 'warm-up' : p.phase === 'drain' ? 'draining' : `${Math.round(f * 100)}%`.padStart(4);
    const p99 = p.p99Us >= 1000 ? `${(p.p99Us / 1000).toFixed(2)} ms` : `${p.p99Us} µs`;
    const errors = p.errors > 0 ? `  errors ${p.errors}` : '';
    const line = `[${bar}] ${label}  ${Math.round(p.opsPerSec).toLocaleString('en-US')} ops/s  p99 ${p99}${errors}`;
    const width = this.stream.columns || 100;
    this.stream.write(`\r${line.slice(0, width - 1)}\x1b[K`);
    this.drawn = true;
  }

  clear(): void {
    if (this.drawn) this.stream.write('\r\x1b[K');
    this.drawn = false;
  }
}
