/**
 * The Redis Cluster fixture for tests: the cluster itself is bench/lib/redis-cluster.ts,
 * shared with the gateway benchmark; this adds the skip rule and the vitest lifecycle.
 */
import { startRedisCluster, type RedisCluster, type RedisClusterOptions } from '../../bench/lib/redis-cluster.js';
import { clusterFixture } from './cluster-fixture.js';
import { havePeer } from './peers.js';

export * from '../../bench/lib/redis-cluster.js';

/** For `describe.skipIf(!haveRedisCluster())`: redis-server and redis-cli are installed (under CI, or the run fails; see havePeer). */
export function haveRedisCluster(): boolean {
  return havePeer('redis-server', 'redis-server') && havePeer('redis-cli', 'redis-tools');
}

/** startRedisCluster for a describe block: each cluster is stopped after the test (or, from beforeAll, the block) that started it. */
export function redisClusterFixture(): { start(options?: RedisClusterOptions): Promise<RedisCluster> } {
  const fixture = clusterFixture((options: RedisClusterOptions = {}) => startRedisCluster(options));
  return { start: (options = {}) => fixture.start(options) };
}
