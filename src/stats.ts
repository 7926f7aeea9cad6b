import type { KeyspaceInfo } from './backend/types.js';
/** Counters shown by STATS (text) and INFO (RESP). */

export type StatValue = number | string;
export type StatSection = Record<string, StatValue>;

interface CommandCounter {
  calls: number;
  errors: number;
  usec: number;
}

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
  private readonly commands = new Map<string, CommandCounter>();
  private readonly providers = new Map<string, () => StatSection>();

  countCommand(name: string, failed: boolean, usec: number): void {
    let c = this.commands.get(name);
    if (c === undefined) {
      c = { calls: 0, errors: 0, usec: 0 };
      this.commands.set(name, c);
    }
    c.calls++;
    if (failed) c.errors++;
    c.usec += usec;
  }

  /** Lets another subsystem (UDP, persistence) add a section of its own. */
  registerSection(name: string, provider: () => StatSection): void {
    this.providers.set(name, provider);
  }

  /** Every section, in a stable order: server, clients, stats, commandstats, then the registered ones. */
  snapshot(keyspace: KeyspaceInfo): Record<string, StatSection> {
    const out: Record<string, StatSection> = {
      server: {
        dualkv_version: VERSION,
        node_version: process.version,
        process_id: process.pid,
        uptime_in_seconds: Math.floor((Date.now() - this.startedAt) / 1000),
      },
      clients: {
        connected_clients: this.connectionsCurrent,
        total_connections_received: this.connectionsTotal,
        rejected_connections: this.connectionsRejected,
        output_buffer_limit_disconnects: this.outputLimitDisconnects,
        query_buffer_limit_disconnects: this.queryBufferDisconnects,
        evicted_clients: this.evictedClients,
        idle_timeout_disconnects: this.idleDisconnects,
      },
      memory: this.providers.get('memory')?.() ?? processMemory(),
      stats: {
        total_commands_processed: this.totalCalls(),
        total_net_input_bytes: this.bytesIn,
        total_net_output_bytes: this.bytesOut,
        protocol_errors: this.protocolErrors,
        expired_keys: keyspace.expiredKeys,
        evicted_keys: keyspace.evictedKeys,
      },
      // As Redis: one line per database that holds keys; dualkv has one, db0.
      keyspace:
        keyspace.keys > 0 ? { db0: `keys=${keyspace.keys},expires=${keyspace.expires},avg_ttl=${keyspace.avgTtl}` } : {},
    };
    const cmd: StatSection = {};
    for (const [name, c] of [...this.commands].sort((a, b) => a[0].localeCompare(b[0]))) {
      cmd[`cmdstat_${name}`] =
        `calls=${c.calls},usec=${c.usec},usec_per_call=${(c.calls ? c.usec / c.calls : 0).toFixed(2)},failed_calls=${c.errors}`;
    }
    out.commandstats = cmd;
    for (const [name, provider] of this.providers) if (!(name in out)) out[name] = provider();
    return out;
  }

  private totalCalls(): number {
    let n = 0;
    for (const c of this.commands.values()) n += c.calls;
    return n;
  }
}

/** The memory section when no budget registered its own (a bare context in tests). */
function processMemory(): StatSection {
  const mem = process.memoryUsage();
  return { used_memory: mem.heapUsed + mem.external + mem.arrayBuffers, used_memory_rss: mem.rss };
}

export const VERSION = '0.1.0';
