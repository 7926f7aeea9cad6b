import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { KeyspaceInfo } from '../backend/types.js';
import { REJECT_REASONS } from '../protocol/datagram-error.js';
import { COMMAND_RESULTS, COMMAND_TRANSPORTS, LATENCY_BUCKETS_US, type ServerStats, type StatSection } from '../stats.js';

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
    new CommandDurationHistogram(reg, commands);

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
    gauge('dualkv_connections', 'TCP clients connected now (INFO connected_clients).', () => field('clients', 'connected_clients'));
    counter('dualkv_connections_total', 'TCP connections accepted (INFO total_connections_received).', () => field('stats', 'total_connections_received'));
    counter('dualkv_connections_rejected_total', 'TCP connections refused at maxclients (INFO rejected_connections).', () => field('stats', 'rejected_connections'));
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
    // Persistence's own section, present only with persistence on (the gauges then read nothing and show no sample).
    counter('dualkv_snapshots_total', 'Snapshots written (INFO rdb_saves).', () => field('persistence', 'rdb_saves'));
    counter('dualkv_snapshot_failures_total', 'Snapshots that failed (INFO snapshot_failures).', () => field('persistence', 'snapshot_failures'));
    gauge('dualkv_snapshot_last_duration_seconds', 'How long the last snapshot took (INFO snapshot_last_duration_ms).', () => {
      const ms = field('persistence', 'snapshot_last_duration_ms');
      return ms === undefined || ms < 0 ? undefined : ms / 1000;
    });
    counter('dualkv_log_write_errors_total', 'Failed writes, fsyncs and file checks on the append-only log (INFO aof_write_errors).', () => field('persistence', 'aof_write_errors'));
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

/**
 * dualkv_command_duration_seconds{command}, from ServerStats' bucket arrays at scrape time:
 * prom-client's observe() per command costs some 60 times the array increment (bench:accounting).
 */
class CommandDurationHistogram extends Histogram<'command'> {
  private static readonly NAME = 'dualkv_command_duration_seconds';
  private static readonly HELP = 'Command latency (commands that ran; rejected ones are not timed).';

  constructor(
    registers: Registry[],
    private readonly commands: () => ReadonlyMap<string, { readonly usec: number; readonly buckets: Float64Array }>,
  ) {
    super({
      name: CommandDurationHistogram.NAME,
      help: CommandDurationHistogram.HELP,
      labelNames: ['command'],
      buckets: LATENCY_BUCKETS_US.map((us) => us / 1e6),
      registers,
    });
  }

  override async get(): Promise<HistogramObject> {
    const name = CommandDurationHistogram.NAME;
    const values: HistogramObject['values'] = [];
    for (const [command, c] of this.commands()) {
      // Prometheus buckets are cumulative; ServerStats keeps each bucket's own count.
      let acc = 0;
      for (let b = 0; b < LATENCY_BUCKETS_US.length; b++) {
        acc += c.buckets[b] ?? 0;
        values.push({ metricName: `${name}_bucket`, labels: { command, le: (LATENCY_BUCKETS_US[b] ?? 0) / 1e6 }, value: acc });
      }
      acc += c.buckets[LATENCY_BUCKETS_US.length] ?? 0;
      values.push({ metricName: `${name}_bucket`, labels: { command, le: '+Inf' }, value: acc });
      values.push({ metricName: `${name}_sum`, labels: { command }, value: c.usec / 1e6 });
      values.push({ metricName: `${name}_count`, labels: { command }, value: acc });
    }
    // prom-client's registry reads only these fields of a metric object; `type` is the string it writes after # TYPE.
    return { name, help: CommandDurationHistogram.HELP, type: 'histogram', aggregator: 'sum', values } as unknown as HistogramObject;
  }

  /** The registry asks for this when a metric has it (prom-client's Histogram does): the same object. */
  getForPromString(): Promise<HistogramObject> {
    return this.get();
  }
}
