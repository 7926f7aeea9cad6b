import { arch, totalmem, type as osType, release, machine } from 'node:os';
import type { KeyspaceInfo } from './backend/types.js';
import type { DurationHistogram } from './durations.js';
import { bucketOf, COMMAND_TRANSPORTS, newCommandCounter, RESULTS_PER_TRANSPORT, sumPairs, sumResult, transportSlot, type CommandCounter } from './command-counters.js';

/** Counters shown by STATS (text) and INFO (RESP), in Redis 7.0's sections and under its names. */

export type StatValue = number | string;
export type StatSection = Record<string, StatValue>;

export const VERSION = '0.1.0';
/** The Redis whose replies, errors and INFO dualkv matches (INFO's redis_version, HELLO's version). */
export const REDIS_VERSION = '7.0.15';

/** What the server around the counters tells INFO (absent in a bare context: tests of the table). */
export interface InfoEnv {
  readonly tcpPort?: number;
  readonly maxclients?: number;
  readonly configFile?: string;
  /** The largest query and reply buffers any client holds now (client_recent_max_*_buffer). */
  readonly clientBuffers?: () => { input: number; output: number };
}

/** Bytes as Redis's bytesToHuman writes them: `192B`, `1.25K`, `7.10M`, `2.00G`. */
export function bytesToHuman(n: number): string {
  const units = ['K', 'M', 'G', 'T', 'P'];
  if (n < 1024) return `${n}B`;
  let d = n / 1024;
  let i = 0;
  while (d >= 1024 && i < units.length - 1) {
    d /= 1024;
    i++;
  }
  return `${d.toFixed(2)}${units[i]}`;
}

/** instantaneous_* are rates over at least this long (Redis samples every 100 ms). */
const RATE_MIN_MS = 100;

/** A rate of a counter, taken between two reads at least RATE_MIN_MS apart (no timer runs for it). */
class Rate {
  private at = performance.now();
  private last = 0;
  private perSec = 0;

  read(counter: number): number {
    const now = performance.now();
    if (now - this.at >= RATE_MIN_MS) {
      this.perSec = ((counter - this.last) * 1000) / (now - this.at);
      this.at = now;
      this.last = counter;
    }
    return this.perSec;
  }

  reset(): void {
    this.at = performance.now();
    this.last = 0;
    this.perSec = 0;
  }
}

/** The durations /metrics shows as histograms: `log_sync` (each fdatasync, or each O_DSYNC write under --fsync always) and `snapshot`. */
export type DurationName = 'log_sync' | 'snapshot';

export class ServerStats {
  readonly startedAt = Date.now();
  connectionsCurrent = 0;
  connectionsTotal = 0;
  connectionsRejected = 0;
  outputLimitDisconnects = 0;
  queryBufferDisconnects = 0;
  /** Clients cut by --maxmemory-clients (Redis: evicted_clients). */
  evictedClients = 0;
  idleDisconnects = 0;
  protocolErrors = 0;
  bytesIn = 0;
  bytesOut = 0;
  /** Reads that found their key, and that did not (Redis: keyspace_hits, keyspace_misses). */
  keyspaceHits = 0;
  keyspaceMisses = 0;
  private readonly commands = new Map<string, CommandCounter>();
  /** Error replies by their first word (`ERR`, `WRONGPASS`): Redis's errorstats. */
  private readonly errors = new Map<string, number>();
  private errorReplies = 0;
  private readonly providers = new Map<string, () => StatSection>();
  private readonly histograms = new Map<DurationName, DurationHistogram>();
  /** The backend's expired and evicted counts at the last CONFIG RESETSTAT. */
  private expiredBase = 0;
  private evictedBase = 0;
  private memoryPeak = 0;
  private readonly opsRate = new Rate();
  private readonly inRate = new Rate();
  private readonly outRate = new Rate();
  /** Authentications by transport slot (transportSlot / 3), then result: ok, failed. */
  readonly authCounts = new Float64Array(COMMAND_TRANSPORTS.length * 2);
  /** Commands refused for their user by transport slot, then reason: noauth, noperm. */
  readonly deniedCounts = new Float64Array(COMMAND_TRANSPORTS.length * 2);

  /** An AUTH, HELLO AUTH, HTTP token or UDP key check: `ok` or not. */
  countAuth(transport: string, ok: boolean): void {
    this.authCounts[(transportSlot(transport) / RESULTS_PER_TRANSPORT) * 2 + (ok ? 0 : 1)]! += 1;
  }

  /** A command refused because its session was not authenticated (`noauth`) or its user may not run it (`noperm`). */
  countDenied(transport: string, reason: 'noauth' | 'noperm'): void {
    this.deniedCounts[(transportSlot(transport) / RESULTS_PER_TRANSPORT) * 2 + (reason === 'noauth' ? 0 : 1)]! += 1;
  }

  /**
   * One command that ran (`failed`: it answered an error), or one refused before it ran
   * (`rejected`), over `transport` (Session.transport). The hot path: a map lookup and
   * array increments.
   */
  countCommand(name: string, transport: string, failed: boolean, usec: number, rejected = false): void {
    let c = this.commands.get(name);
    if (c === undefined) {
      c = newCommandCounter();
      this.commands.set(name, c);
    }
    const slot = transportSlot(transport);
    if (rejected) {
      c.counts[slot + 2]! += 1;
      return;
    }
    c.counts[slot + (failed ? 1 : 0)]! += 1;
    c.usec += usec;
    c.buckets[bucketOf(usec)]! += 1;
  }

  /** Every command's counters, by name, as they are now (read, never written, by /metrics). */
  commandCounters(): ReadonlyMap<string, CommandCounter> {
    return this.commands;
  }

  /** An error reply, by its RESP prefix (`ERR`, `OOM`, …). */
  countError(prefix: string): void {
    this.errorReplies++;
    this.errors.set(prefix, (this.errors.get(prefix) ?? 0) + 1);
  }

  /** Lets another subsystem (UDP, persistence) add a section of its own. */
  registerSection(name: string, provider: () => StatSection): void {
    this.providers.set(name, provider);
  }

  /** Lets a subsystem publish how long its disk operations take (persistence: log syncs, snapshots). */
  registerDurations(name: DurationName, h: DurationHistogram): void {
    this.histograms.set(name, h);
  }

  /** A registered histogram, or undefined (persistence off). */
  durations(name: DurationName): DurationHistogram | undefined {
    return this.histograms.get(name);
  }

  /** CONFIG RESETSTAT: the counters Redis's resetServerStats, command and error tables reset. */
  reset(keyspace: KeyspaceInfo): void {
    this.commands.clear();
    this.errors.clear();
    this.authCounts.fill(0);
    this.deniedCounts.fill(0);
    this.errorReplies = 0;
    this.connectionsTotal = 0;
    this.connectionsRejected = 0;
    this.evictedClients = 0;
    this.keyspaceHits = 0;
    this.keyspaceMisses = 0;
    this.bytesIn = 0;
    this.bytesOut = 0;
    this.expiredBase = keyspace.expiredKeys;
    this.evictedBase = keyspace.evictedKeys;
    this.opsRate.reset();
    this.inRate.reset();
    this.outRate.reset();
  }

  /** Every section, in Redis's order, then the registered ones of dualkv's own (udp, logging). */
  snapshot(keyspace: KeyspaceInfo, env: InfoEnv = {}): Record<string, StatSection> {
    const uptime = Math.floor((Date.now() - this.startedAt) / 1000);
    const buffers = env.clientBuffers?.() ?? { input: 0, output: 0 };
    const cpu = process.cpuUsage();
    const out: Record<string, StatSection> = {
      server: {
        redis_version: REDIS_VERSION,
        redis_mode: 'standalone',
        os: `${osType()} ${release()} ${machine()}`,
        arch_bits: arch() === 'x64' || arch() === 'arm64' ? 64 : 32,
        multiplexing_api: process.platform === 'linux' ? 'epoll' : 'kqueue',
        process_id: process.pid,
        process_supervised: 'no',
        tcp_port: env.tcpPort ?? 0,
        server_time_usec: Date.now() * 1000,
        uptime_in_seconds: uptime,
        uptime_in_days: Math.floor(uptime / 86400),
        hz: 10,
        configured_hz: 10,
        executable: process.argv[1] ?? process.execPath,
        config_file: env.configFile ?? '',
        io_threads_active: 0,
        dualkv_version: VERSION,
        node_version: process.version,
      },
      clients: {
        connected_clients: this.connectionsCurrent,
        cluster_connections: 0,
        maxclients: env.maxclients ?? 0,
        client_recent_max_input_buffer: buffers.input,
        client_recent_max_output_buffer: buffers.output,
        blocked_clients: 0,
        tracking_clients: 0,
        clients_in_timeout_table: 0,
        output_buffer_limit_disconnects: this.outputLimitDisconnects,
        query_buffer_limit_disconnects: this.queryBufferDisconnects,
        idle_timeout_disconnects: this.idleDisconnects,
      },
      memory: this.memorySection(),
      persistence: this.providers.get('persistence')?.() ?? this.noPersistence(),
      stats: {
        total_connections_received: this.connectionsTotal,
        total_commands_processed: this.totalCalls(),
        instantaneous_ops_per_sec: Math.round(this.opsRate.read(this.totalCalls())),
        total_net_input_bytes: this.bytesIn,
        total_net_output_bytes: this.bytesOut,
        instantaneous_input_kbps: (this.inRate.read(this.bytesIn) / 1024).toFixed(2),
        instantaneous_output_kbps: (this.outRate.read(this.bytesOut) / 1024).toFixed(2),
        rejected_connections: this.connectionsRejected,
        expired_keys: keyspace.expiredKeys - this.expiredBase,
        evicted_keys: keyspace.evictedKeys - this.evictedBase,
        evicted_clients: this.evictedClients,
        keyspace_hits: this.keyspaceHits,
        keyspace_misses: this.keyspaceMisses,
        pubsub_channels: 0,
        pubsub_patterns: 0,
        total_error_replies: this.errorReplies,
        protocol_errors: this.protocolErrors,
        auth_successes: sumPairs(this.authCounts, 0),
        auth_failures: sumPairs(this.authCounts, 1),
        commands_denied_noauth: sumPairs(this.deniedCounts, 0),
        commands_denied_noperm: sumPairs(this.deniedCounts, 1),
      },
      replication: {
        role: 'master',
        connected_slaves: 0,
        master_failover_state: 'no-failover',
        master_repl_offset: 0,
        second_repl_offset: -1,
        repl_backlog_active: 0,
      },
      cpu: {
        used_cpu_sys: (cpu.system / 1e6).toFixed(6),
        used_cpu_user: (cpu.user / 1e6).toFixed(6),
        used_cpu_sys_children: '0.000000',
        used_cpu_user_children: '0.000000',
      },
      modules: {},
      commandstats: this.commandStats(),
      errorstats: Object.fromEntries([...this.errors].sort((a, b) => a[0].localeCompare(b[0])).map(([p, n]) => [`errorstat_${p}`, `count=${n}`])),
      cluster: { cluster_enabled: 0 },
      // As Redis: one line per database that holds keys; dualkv has one, db0.
      keyspace: keyspace.keys > 0 ? { db0: `keys=${keyspace.keys},expires=${keyspace.expires},avg_ttl=${keyspace.avgTtl}` } : {},
    };
    for (const [name, provider] of this.providers) if (!(name in out)) out[name] = provider();
    return out;
  }

  /** The memory budget's section (or the process's figures in a bare context), with Redis's peak, system and ratio fields. */
  private memorySection(): StatSection {
    const mem = process.memoryUsage();
    const own = this.providers.get('memory')?.() ?? { used_memory: mem.heapUsed + mem.external + mem.arrayBuffers, used_memory_rss: mem.rss };
    const used = Number(own.used_memory ?? 0);
    const rss = Number(own.used_memory_rss ?? mem.rss);
    this.memoryPeak = Math.max(this.memoryPeak, used);
    // evicted_keys belongs to the stats section, where Redis has it; the *_human fields are written as Redis writes them.
    const { used_memory: _u, used_memory_human: _uh, used_memory_rss: _r, used_memory_rss_human: _rh, evicted_keys: _e, ...rest } = own;
    const maxmemory = Number(own.maxmemory ?? 0);
    return {
      used_memory: used,
      used_memory_human: bytesToHuman(used),
      used_memory_rss: rss,
      used_memory_rss_human: bytesToHuman(rss),
      used_memory_peak: this.memoryPeak,
      used_memory_peak_human: bytesToHuman(this.memoryPeak),
      used_memory_peak_perc: `${this.memoryPeak > 0 ? ((used * 100) / this.memoryPeak).toFixed(2) : '100.00'}%`,
      total_system_memory: totalmem(),
      total_system_memory_human: bytesToHuman(totalmem()),
      mem_fragmentation_ratio: used > 0 ? (rss / used).toFixed(2) : '0.00',
      mem_allocator: `v8-${process.versions.v8}`,
      maxmemory: 0,
      maxmemory_policy: 'noeviction',
      ...rest,
      maxmemory_human: bytesToHuman(maxmemory),
    };
  }

  /** Redis's fields with persistence off: nothing is loading and no snapshot or log exists. */
  private noPersistence(): StatSection {
    return {
      loading: 0,
      async_loading: 0,
      rdb_changes_since_last_save: 0,
      rdb_bgsave_in_progress: 0,
      rdb_last_save_time: Math.floor(this.startedAt / 1000),
      rdb_last_bgsave_status: 'ok',
      rdb_last_bgsave_time_sec: -1,
      rdb_current_bgsave_time_sec: -1,
      rdb_saves: 0,
      aof_enabled: 0,
      aof_rewrite_in_progress: 0,
      aof_last_write_status: 'ok',
    };
  }

  private commandStats(): StatSection {
    const cmd: StatSection = {};
    for (const [name, c] of [...this.commands].sort((a, b) => a[0].localeCompare(b[0]))) {
      const failed = sumResult(c, 1);
      const calls = sumResult(c, 0) + failed;
      cmd[`cmdstat_${name}`] =
        `calls=${calls},usec=${c.usec},usec_per_call=${(calls ? c.usec / calls : 0).toFixed(2)},rejected_calls=${sumResult(c, 2)},failed_calls=${failed}`;
    }
    return cmd;
  }

  private totalCalls(): number {
    let n = 0;
    for (const c of this.commands.values()) n += sumResult(c, 0) + sumResult(c, 1);
    return n;
  }
}
