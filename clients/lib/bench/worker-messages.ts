import type { BenchOptions } from './options.js';
import type { PreloadResult } from './preload.js';
import type { Tally } from './tally.js';

/** What a load thread is started with. */
export interface WorkerInput {
  readonly options: BenchOptions;
  /** This thread's number, 0-based: picks its share of the lanes, keys and seed stream. */
  readonly index: number;
  /** Send interval histograms for the live display (skipped when nobody is watching). */
  readonly progress: boolean;
}

/** `stop` with `drain: false` ends what is outstanding at once, as `unfinished`. */
export type ToWorker = { readonly t: 'start' } | { readonly t: 'stop'; readonly drain: boolean };

export type FromWorker =
  /** Connected (and preloaded): waiting for `start`. */
  | { readonly t: 'ready'; readonly preload: PreloadResult | null }
  /** Could not connect, or failed before the run. */
  | { readonly t: 'fatal'; readonly code: string; readonly message: string }
  /** Since the last progress message: completions, and their latencies when asked. `sent`/`done` are measured totals. */
  | { readonly t: 'progress'; readonly ok: number; readonly errors: number; readonly histogram: string | null; readonly sent: number; readonly done: number }
  /** The end: measured counts and latencies; `fatal` when the run was cut short by the transport. */
  | {
      readonly t: 'done';
      readonly tally: Tally;
      readonly histogram: string;
      readonly measureFrom: number;
      readonly lastDone: number;
      readonly unsent: number;
      /** Per server (BenchOptions.servers): the counts and the encoded histogram. */
      readonly servers: ReadonlyArray<{ readonly tally: Tally; readonly histogram: string }>;
      readonly fatal: { readonly code: string; readonly message: string } | null;
    };
