/** INFO's sections: their names and order as Redis 7.0 has them, and the fields dualkv adds. */

/** Sections in Redis 7.0's order (server.c genRedisInfoString); dualkv's own come after. */
export const INFO_SECTIONS = [
  'server',
  'clients',
  'memory',
  'persistence',
  'stats',
  'replication',
  'cpu',
  'modules',
  'commandstats',
  'errorstats',
  'cluster',
  'keyspace',
] as const;

/** `INFO` and `INFO default`: every section but commandstats (Redis 7.0's default list). */
export const DEFAULT_INFO_SECTIONS: ReadonlySet<string> = new Set(INFO_SECTIONS.filter((s) => s !== 'commandstats'));

/**
 * The fields dualkv adds to Redis's sections, by section (udp and logging are sections of
 * its own). Every other field in a Redis section is one Redis 7.0 has, under the same name
 * (test/commands/info-command.test.ts compares them with a real redis-server's).
 */
export const DUALKV_INFO_FIELDS: Readonly<Record<string, readonly string[]>> = {
  server: ['dualkv_version', 'node_version'],
  clients: ['output_buffer_limit_disconnects', 'query_buffer_limit_disconnects', 'idle_timeout_disconnects'],
  memory: [
    'used_memory_dataset_heap',
    'used_memory_dataset_external',
    'mem_eviction_access_clock',
    'mem_change_log',
    'mem_udp_reply_cache',
    'mem_log_backlog',
    'used_memory_heap',
    'heap_size_limit',
    'maxmemory_clients',
    'memory_usable',
    'memory_usable_from',
    'oom_refused_writes',
  ],
  persistence: [
    'fsync_policy',
    'aof_segments',
    'writes_refused',
    'data_dir_status',
    'aof_write_errors',
    'aof_slow_writes',
    'aof_syncs',
    'aof_sync_usec',
    'writes_not_on_disk',
    'snapshot_failures',
    'snapshot_last_duration_ms',
    'snapshot_last_size',
    'snapshot_last_keys',
    'snapshot_last_time',
    'load_log_records',
    'load_ms',
    'load_torn_bytes_cut',
    'last_error',
  ],
  stats: ['protocol_errors', 'auth_successes', 'auth_failures', 'commands_denied_noauth', 'commands_denied_noperm'],
};
