import { execFileSync } from 'node:child_process';
import { startRedis, type Proc } from '../../bench/lib/procs.js';
import { RawClient } from './socket.js';

/** redis-server's major version. */
export function redisMajor(): number {
  const out = execFileSync('redis-server', ['--version'], { encoding: 'utf8' });
  return Number(/v=(\d+)\./.exec(out)?.[1] ?? 0);
}

/**
 * A real redis-server 7 (no persistence) on a free loopback port and a raw RESP client to
 * it, for the differential tests; refuses an older Redis, whose replies differ.
 */
export async function startRedis7(): Promise<{ redis: Proc; client: RawClient }> {
  const major = redisMajor();
  if (major < 7) throw new Error(`redis-server is version ${major}; this test compares with Redis 7 (Debian bookworm's redis-server)`);
  const redis = await startRedis([['appendonly', 'no']]);
  const client = await RawClient.connect(redis.port);
  client.socket.setNoDelay(true);
  return { redis, client };
}
