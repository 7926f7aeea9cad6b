/**
 * redis-benchmark's default test list (Redis 7.0, in the order it runs them), which
 * of them dualkv can serve, and how to read one run's `--csv` output. Pure: the
 * process is bench/lib/run-redis-benchmark.ts.
 */

export interface BenchmarkTest {
  /** The name redis-benchmark prints, in its CSV's "test" column. */
  readonly name: string;
  /** What `-t` selects it with. */
  readonly selector: string;
  /** null when dualkv has the commands; otherwise why it is skipped. */
  readonly skip: string | null;
}

const LISTS = 'lists are not a dualkv data type';
const SETS = 'sets are not a dualkv data type';
const HASHES = 'hashes are not a dualkv data type';
const ZSETS = 'sorted sets are not a dualkv data type';

/** redis-benchmark.c's default list, as `redis-benchmark --csv` with no `-t` runs it. */
export const DEFAULT_TESTS: readonly BenchmarkTest[] = [
  { name: 'PING_INLINE', selector: 'ping_inline', skip: null },
  { name: 'PING_MBULK', selector: 'ping_mbulk', skip: null },
  { name: 'SET', selector: 'set', skip: null },
  { name: 'GET', selector: 'get', skip: null },
  { name: 'INCR', selector: 'incr', skip: null },
  { name: 'LPUSH', selector: 'lpush', skip: LISTS },
  { name: 'RPUSH', selector: 'rpush', skip: LISTS },
  { name: 'LPOP', selector: 'lpop', skip: LISTS },
  { name: 'RPOP', selector: 'rpop', skip: LISTS },
  { name: 'SADD', selector: 'sadd', skip: SETS },
  { name: 'HSET', selector: 'hset', skip: HASHES },
  { name: 'SPOP', selector: 'spop', skip: SETS },
  { name: 'ZADD', selector: 'zadd', skip: ZSETS },
  { name: 'ZPOPMIN', selector: 'zpopmin', skip: ZSETS },
  { name: 'LPUSH (needed to benchmark LRANGE)', selector: 'lrange', skip: LISTS },
  { name: 'LRANGE_100 (first 100 elements)', selector: 'lrange_100', skip: LISTS },
  { name: 'LRANGE_300 (first 300 elements)', selector: 'lrange_300', skip: LISTS },
  { name: 'LRANGE_500 (first 500 elements)', selector: 'lrange_500', skip: LISTS },
  { name: 'LRANGE_600 (first 600 elements)', selector: 'lrange_600', skip: LISTS },
  { name: 'MSET (10 keys)', selector: 'mset', skip: null },
];

/** One row of `redis-benchmark --csv`: requests/s and latencies in milliseconds. */
export interface BenchmarkRow {
  readonly test: string;
  readonly rps: number;
  readonly avgMs: number;
  readonly minMs: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

const CSV_HEADER = ['test', 'rps', 'avg_latency_ms', 'min_latency_ms', 'p50_latency_ms', 'p95_latency_ms', 'p99_latency_ms', 'max_latency_ms'];

/** The quoted fields of one CSV line (redis-benchmark quotes every field and never a quote). */
function splitCsvLine(line: string): string[] | null {
  const m = line.trim().match(/^"(.*)"$/);
  return m ? (m[1] as string).split('","') : null;
}

/**
 * The rows of a `redis-benchmark --csv` run (7.0's eight columns). Lines that are
 * not rows (the header, warnings) are passed over; a row with a field that is
 * not a number throws, since a wrong figure is worse than none.
 */
export function parseBenchmarkCsv(stdout: string): BenchmarkRow[] {
  const rows: BenchmarkRow[] = [];
  for (const line of stdout.split(/[\r\n]+/)) {
    const fields = splitCsvLine(line);
    if (fields === null || fields.length !== CSV_HEADER.length || fields[0] === CSV_HEADER[0]) continue;
    const [test, ...figures] = fields as [string, ...string[]];
    const n = figures.map(Number);
    if (n.some((x) => !Number.isFinite(x))) throw new Error(`redis-benchmark printed a row that is not all numbers: ${line.trim()}`);
    const [rps, avgMs, minMs, p50Ms, p95Ms, p99Ms, maxMs] = n as [number, number, number, number, number, number, number];
    rows.push({ test, rps, avgMs, minMs, p50Ms, p95Ms, p99Ms, maxMs });
  }
  return rows;
}

/**
 * Why a redis-benchmark run produced no figure, in a line: the server's error
 * reply when there was one (redis-benchmark prints "Error from server: …" to
 * stderr and exits 1 at the first), else its last line of stderr, else the exit.
 */
export function describeBenchmarkFailure(stderr: string, exit: { code: number | null; signal: string | null }): string {
  const lines = stderr
    .split(/[\r\n]+/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('WARNING: Could not fetch server CONFIG'));
  const fromServer = lines.find((l) => l.startsWith('Error from server: '));
  if (fromServer !== undefined) return fromServer.slice('Error from server: '.length);
  const last = lines.at(-1);
  if (last !== undefined) return last;
  return exit.signal !== null ? `killed by ${exit.signal}` : `exit code ${exit.code}`;
}
