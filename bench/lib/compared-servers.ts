/**
 * The servers the issue-12 benchmarks compare, by the names --servers takes:
 * Redis as its users run it durably, and kv-server as a user would start it.
 */
import { startKvServer, startRedis, type Proc } from './procs.js';

export interface ComparedServer {
  readonly name: string;
  readonly start: () => Promise<Proc>;
}

export const COMPARED_SERVERS = {
  redis: { name: 'redis-server (AOF everysec)', start: () => startRedis([['appendonly', 'yes'], ['appendfsync', 'everysec']]) },
  kv: { name: 'kv-server (default)', start: () => startKvServer() },
  'kv-no-log-ops': { name: 'kv-server --no-log-ops', start: () => startKvServer(['--no-log-ops']) },
} as const satisfies Record<string, ComparedServer>;

/** `--servers redis,kv,…` as servers; Redis comes first, since every ratio is to it. */
export function chooseServers(list: string): ComparedServer[] {
  const keys = list.split(',').map((s) => s.trim());
  const unknown = keys.filter((k) => !(k in COMPARED_SERVERS));
  if (unknown.length > 0) throw new Error(`--servers: unknown ${unknown.join(', ')}; choose from ${Object.keys(COMPARED_SERVERS).join(', ')}`);
  if (keys[0] !== 'redis') throw new Error('--servers must start with redis: every ratio is to Redis in the same round');
  return keys.map((k) => COMPARED_SERVERS[k as keyof typeof COMPARED_SERVERS]);
}
