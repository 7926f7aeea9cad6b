import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { KeyspaceInfo } from '../backend/types.js';
import { SNAPSHOT_BUCKETS_S, SYNC_BUCKETS_S, type DurationHistogram } from '../durations.js';
import { REJECT_REASONS } from '../protocol/datagram-error.js';
import { POOL_SPELL_MS, SLOW_WRITE_MS } from '../persistence/write-path.js';
import { COMMAND_RESULTS, COMMAND_TRANSPORTS, LATENCY_BUCKETS_US } from '../command-counters.js';
import type { ServerStats, StatSection } from '../stats.js';

/** docs/HTTP.md "Metrics": the Prometheus text format, version 0.0.4. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** What the metrics are read from: the same counters INFO shows, read at scrape time only. */
export interface MetricsSources {
  readonly stats: ServerStats;
  /** INFO's sections, as INFO renders them (server.ts: ctx.info). */
  readonly info: () => Record<string, StatSection>;
  readonly keyspace: () => KeyspaceInfo;
}

export interface ServerMetricsOptions {
  /** prom-client's process metrics (CPU, heap, event-loop lag, GC); they keep an event-loop monitor running. */
  readonly processMetrics?: boolean;
}

type Section = Record<string, StatSection>;

/**
 * One KvServer's Prometheus registry (never prom-client's global one: several servers
 * live in one test process). Nothing here runs per command: every metric is read at
 * scrape time from ServerStats and INFO's sections, so /metrics and INFO cannot drift.
 * Label values are bounded: command names from the table, transports, results, reasons.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly contentType = METRICS_CONTENT_TYPE;
  /** INFO's sections, read once per scrape and shared by every metric of it. */
  private scraped: Section | null = null;

  constructor(
    private readonly sources: MetricsSources,
    options: ServerMetricsOptions = {},
  ) {
    const reg = [this.registry];
    const commands = () => sources.stats.commandCounters();
    new Counter({
      name: 'dualkv_commands_total',
      help: 'Commands by name, transport and result (ok, error: ran and answered an error, rejected: refused before it ran).',
      labelNames: ['command', 'transport', 'result'],
      registers: reg,
      collect() {
        this.reset();
        for (const [command, c] of commands()) {
          for (let t = 0; t < COMMAND_TRANSPORTS.length; t++) {
            for (let r = 0; r < COMMAND_RESULTS.length; r++) {
              const n = c.counts[t * COMMAND_RESULTS.length + r] ?? 0;
              if (n > 0) this.inc({ command, transport: COMMAND_TRANSPORTS[t], result: COMMAND_RESULTS[r] }, n);
            }
          }
        }
      },
    });
    commandDurations(reg, commands);

    const field = (section: string, name: string): number | undefined => {
      const v = this.section(section)[name];
      const n = typeof v === 'number' ? v : Number(v);
      return v === undefined || v === '' || Number.isNaN(n) ? undefined : n;
    };
    const gauge = (name: string, help: string, read: () => number | undefined) =>
      new Gauge({
        name,
        help,
        registers: reg,
        collect() {
          const v = read();
          if (v === undefined) this.reset();
          else this.set(v);
        },
      });
    const counter = (name: string, help: string, read: () => number | undefined) =>
      new Counter({
        name,
        help,
        registers: reg,
        collect() {
          this.reset();
          const v = read();
          if (v !== undefined) this.inc(v);
        },
      });

    gauge('dualkv_keys', 'Keys in the store.', () => sources.keyspace().keys);
    gauge('dualkv_keys_with_expiry', 'Keys with a time to live.', () => sources.keyspace().expires);
    gauge('dualkv_memory_used_bytes', 'Memory the --maxmemory budget counts (INFO used_memory).', () => field('memory', 'used_memory'));
    gauge('dualkv_memory_rss_bytes', 'Resident set size (INFO used_memory_rss).', () => field('memory', 'used_memory_rss'));
    gauge('dualkv_memory_max_bytes', 'The memory limit, 0 for none (INFO maxmemory).', () => field('memory', 'maxmemory'));
    gauge('dualkv_connections', 'Stream clients (TCP and HTTP) connected now (INFO connected_clients).', () => field('clients', 'connected_clients'));
    counter('dualkv_connections_total', 'TCP and HTTP connections accepted (INFO total_connections_received).', () => field('stats', 'total_connections_received'));
    counter('dualkv_connections_rejected_total', 'TCP and HTTP connections refused at --max-connections (INFO rejected_connections).', () => field('stats', 'rejected_connections'));
    counter('dualkv_expired_keys_total', 'Keys removed because their time to live ran out (INFO expired_keys).', () => field('stats', 'expired_keys'));
    counter('dualkv_evicted_keys_total', 'Keys evicted at the memory limit (INFO evicted_keys).', () => field('stats', 'evicted_keys'));
    counter('dualkv_keyspace_hits_total', 'Key reads that found their key (INFO keyspace_hits).', () => field('stats', 'keyspace_hits'));
    counter('dualkv_keyspace_misses_total', 'Key reads that did not (INFO keyspace_misses).', () => field('stats', 'keyspace_misses'));
    counter('dualkv_error_replies_total', 'Error replies (INFO total_error_replies).', () => field('stats', 'total_error_replies'));
    counter('dualkv_net_input_bytes_total', 'Bytes read from clients, TCP and UDP (INFO total_net_input_bytes).', () => field('stats', 'total_net_input_bytes'));
    counter('dualkv_net_output_bytes_total', 'Bytes written to clients (INFO total_net_output_bytes).', () => field('stats', 'total_net_output_bytes'));
    const udp = (name: string) => () => field('udp', name);
    counter('dualkv_udp_requests_total', 'UDP requests decoded (INFO udp_requests).', udp('udp_requests'));
    const self = this;
    new Counter({
      name: 'dualkv_udp_rejected_total',
      help: 'UDP datagrams refused, by reason (INFO udp_rejected_<reason>).',
      labelNames: ['reason'],
      registers: reg,
      collect() {
        this.reset();
        const section = self.section('udp');
        for (const reason of REJECT_REASONS) {
          const v = section[`udp_rejected_${reason}`];
          if (v !== undefined) this.inc({ reason }, Number(v));
        }
      },
    });
    const pairs = (name: string, help: string, label: string, values: readonly [string, string], read: () => Float64Array) =>
      new Counter({
        name,
        help,
        labelNames: ['transport', label],
        registers: reg,
        collect() {
          this.reset();
          const a = read();
          for (let t = 0; t < COMMAND_TRANSPORTS.length; t++) {
            for (let v = 0; v < 2; v++) {
              const n = a[t * 2 + v] ?? 0;
              if (n > 0) this.inc({ transport: COMMAND_TRANSPORTS[t], [label]: values[v] }, n);
            }
          }
        },
      });
    pairs('dualkv_auth_total', 'Authentication attempts (AUTH, HELLO AUTH, HTTP tokens, UDP keys) by transport and result (INFO auth_successes, auth_failures).', 'result', ['ok', 'failed'], () => sources.stats.authCounts);
    pairs('dualkv_commands_denied_total', 'Commands refused for their user: noauth (not authenticated), noperm (the permission does not cover it) (INFO commands_denied_*).', 'reason', ['noauth', 'noperm'], () => sources.stats.deniedCounts);
    // Persistence's own section, present only with persistence on (the gauges then read nothing and show no sample).
    counter('dualkv_snapshots_total', 'Snapshots written (INFO rdb_saves).', () => field('persistence', 'rdb_saves'));
    counter('dualkv_snapshot_failures_total', 'Snapshots that failed (INFO snapshot_failures).', () => field('persistence', 'snapshot_failures'));
    gauge('dualkv_snapshot_last_duration_seconds', 'How long the last snapshot took (INFO snapshot_last_duration_ms).', () => {
      const ms = field('persistence', 'snapshot_last_duration_ms');
      return ms === undefined || ms < 0 ? undefined : ms / 1000;
    });
    counter('dualkv_log_write_errors_total', 'Failed writes, fsyncs and file checks on the append-only log (INFO aof_write_errors).', () => field('persistence', 'aof_write_errors'));
    counter('dualkv_log_slow_writes_total', `Writes of the append-only log made on the event loop that took over ${SLOW_WRITE_MS} ms; each sends the next writes to the thread pool for ${POOL_SPELL_MS / 1000} s (INFO aof_slow_writes).`, () => field('persistence', 'aof_slow_writes'));
    diskDurations(reg, 'dualkv_log_sync_duration_seconds', 'How long each fdatasync of the append-only log took (under --fsync always: each O_DSYNC write). INFO aof_syncs, aof_sync_usec.', () => sources.stats.durations('log_sync'), SYNC_BUCKETS_S);
    diskDurations(reg, 'dualkv_snapshot_duration_seconds', 'How long each snapshot took to build (INFO snapshot_last_duration_ms is the last one).', () => sources.stats.durations('snapshot'), SNAPSHOT_BUCKETS_S);
    gauge('dualkv_log_bytes', 'Size of the append-only log (INFO aof_current_size).', () => field('persistence', 'aof_current_size'));
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** The registry in Prometheus text format, with INFO's sections read once for the whole scrape. */
  async render(): Promise<string> {
    this.scraped = this.sources.info();
    try {
      return await this.registry.metrics();
    } finally {
      this.scraped = null;
    }
  }

  private section(name: string): StatSection {
    this.scraped ??= this.sources.info();
    return this.scraped[name] ?? {};
  }
}

type HistogramObject = Awaited<ReturnType<Histogram['get']>>;

/** One labelled series of a bucket histogram: each bucket's own count (the last slot is over the last bound), and the sum in seconds. */
interface BucketSeries {
  readonly labels: Record<string, string>;
  readonly counts: ArrayLike<number>;
  readonly sumSeconds: number;
}

/**
 * A Prometheus histogram rendered at scrape time from counts that are kept elsewhere as
 * plain arrays (ServerStats, DurationHistogram): prom-client's observe() per command costs
 * some 60 times the array increment (bench:accounting).
 */
class BucketHistogram extends Histogram<string> {
  constructor(
    registers: Registry[],
    private readonly meta: { readonly name: string; readonly help: string; readonly labelNames: readonly string[]; readonly bounds: readonly number[] },
    private readonly series: () => Iterable<BucketSeries>,
  ) {
    super({ name: meta.name, help: meta.help, labelNames: meta.labelNames, buckets: [...meta.bounds], registers });
  }

  override async get(): Promise<HistogramObject> {
    const { name, help, bounds } = this.meta;
    const values: HistogramObject['values'] = [];
    for (const { labels, counts, sumSeconds } of this.series()) {
      // Prometheus buckets are cumulative; the sources keep each bucket's own count.
      let acc = 0;
      for (let b = 0; b < bounds.length; b++) {
        acc += counts[b] ?? 0;
        values.push({ metricName: `${name}_bucket`, labels: { ...labels, le: bounds[b] ?? 0 }, value: acc });
      }
      acc += counts[bounds.length] ?? 0;
      values.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: acc });
      values.push({ metricName: `${name}_sum`, labels, value: sumSeconds });
      values.push({ metricName: `${name}_count`, labels, value: acc });
    }
    // prom-client's registry reads only these fields of a metric object; `type` is the string it writes after # TYPE.
    return { name, help, type: 'histogram', aggregator: 'sum', values } as unknown as HistogramObject;
  }

  /** The registry asks for this when a metric has it (prom-client's Histogram does): the same object. */
  getForPromString(): Promise<HistogramObject> {
    return this.get();
  }
}

/** dualkv_command_duration_seconds{command}, from ServerStats' per-command bucket arrays. */
function commandDurations(registers: Registry[], commands: () => ReadonlyMap<string, { readonly usec: number; readonly buckets: Float64Array }>): void {
  const meta = {
    name: 'dualkv_command_duration_seconds',
    help: 'Command latency (commands that ran; rejected ones are not timed).',
    labelNames: ['command'],
    bounds: LATENCY_BUCKETS_US.map((us) => us / 1e6),
  };
  new BucketHistogram(registers, meta, function* () {
    for (const [command, c] of commands()) yield { labels: { command }, counts: c.buckets, sumSeconds: c.usec / 1e6 };
  });
}

/** A DurationHistogram that persistence registers (src/durations.ts); no samples while it has none (persistence off). */
function diskDurations(registers: Registry[], name: string, help: string, read: () => DurationHistogram | undefined, bounds: readonly number[]): void {
  new BucketHistogram(registers, { name, help, labelNames: [], bounds }, function* () {
    const h = read();
    if (h !== undefined) yield { labels: {}, counts: h.counts, sumSeconds: h.sum };
  });
}
