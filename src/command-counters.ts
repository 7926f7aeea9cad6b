/**
 * Per-command counters by transport, result and latency bucket: what INFO's
 * commandstats and /metrics (src/metrics/) read, so the two cannot drift.
 */

/** The transports commands are counted by (Session.transport); any other counts as `other`. */
export const COMMAND_TRANSPORTS = ['tcp', 'udp', 'http', 'other'] as const;
/** How a command ended: ran and answered, ran and answered an error (Redis: failed_calls), refused before it ran (rejected_calls). */
export const COMMAND_RESULTS = ['ok', 'error', 'rejected'] as const;
/** Upper bounds of the latency buckets in µs (Prometheus's `le`, in seconds: 1e-5 … 1); a last bucket holds the rest. */
export const LATENCY_BUCKETS_US: readonly number[] = [10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 25_000, 100_000, 500_000, 1_000_000];

/**
 * One command's counters: INFO's commandstats and /metrics (src/metrics/) both read
 * these, so the two cannot drift. Plain typed arrays, so counting builds no strings.
 */
export interface CommandCounter {
  /** By transport, then result: `counts[t * COMMAND_RESULTS.length + r]`. */
  readonly counts: Float64Array;
  /** Microseconds spent by the commands that ran. */
  usec: number;
  /** The commands that ran, by latency bucket (not cumulative); the last slot is over LATENCY_BUCKETS_US's last bound. */
  readonly buckets: Float64Array;
}

export const RESULTS_PER_TRANSPORT = COMMAND_RESULTS.length;

/** Latencies up to 1 ms, which nearly every command has, find their bucket in this table rather than by a scan. */
const TABLE_MAX_US = 1000;
const BUCKET_OF_US = Uint8Array.from({ length: TABLE_MAX_US + 1 }, (_, us) => scanBucket(us));

function scanBucket(usec: number): number {
  let b = 0;
  while (b < LATENCY_BUCKETS_US.length && usec > LATENCY_BUCKETS_US[b]!) b++;
  return b;
}

/** The latency bucket of `usec` microseconds. */
export function bucketOf(usec: number): number {
  return BUCKET_OF_US[usec] ?? scanBucket(usec);
}

export function newCommandCounter(): CommandCounter {
  return {
    counts: new Float64Array(COMMAND_TRANSPORTS.length * RESULTS_PER_TRANSPORT),
    usec: 0,
    buckets: new Float64Array(LATENCY_BUCKETS_US.length + 1),
  };
}

/** A counter's slot for a transport (a comparison chain: no lookup and no string built per command). */
export function transportSlot(transport: string): number {
  return transport === 'tcp' ? 0 : transport === 'udp' ? 3 : transport === 'http' ? 6 : 9;
}

/** Sums every transport's slot `which` of a by-transport array of pairs. */
export function sumPairs(a: Float64Array, which: 0 | 1): number {
  let n = 0;
  for (let i = which; i < a.length; i += 2) n += a[i] ?? 0;
  return n;
}

/** Sums a counter's slots for one result over every transport. */
export function sumResult(c: CommandCounter, result: number): number {
  let n = 0;
  for (let i = result; i < c.counts.length; i += RESULTS_PER_TRANSPORT) n += c.counts[i] ?? 0;
  return n;
}
