import { randomBytes } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe } from 'vitest';
import type { BackendConfig } from '../../../src/backend/backend-config.js';
import { UdpClient, type UdpClientOptions } from '../../../clients/lib/udp-client.js';
import { etcdClusterFixture, haveEtcd, type EtcdCluster } from '../../helpers/etcd-cluster.js';
import { until } from '../../helpers/gateway.js';
import { haveRedisCluster, redisClusterFixture, type RedisCluster } from '../../helpers/redis-cluster.js';
import { startTestServer, type TestServer, type TestServerOverrides } from '../../helpers/server.js';
import { RawClient } from '../../helpers/socket.js';

/**
 * The backend-parametrised functional suites (issue 15): the same cases, through real
 * clients (ioredis, the text dialect, UDP, HTTP), against a dualkv server over each
 * backend. Each engine starts once per file; every test gets a clean keyspace (etcd: a
 * fresh --etcd-prefix; Redis Cluster: FLUSHALL on every master; memory: a new server).
 */

export const BACKEND_NAMES = ['memory', 'etcd', 'redis-cluster'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

/** A dualkv server under test, with its clients; all are closed after the test. */
export interface Served {
  readonly server: TestServer;
  /** An ioredis client (RESP2). */
  readonly redis: Redis;
  /** The HTTP API's base URL, http://127.0.0.1:port. */
  readonly http: string;
  /** Another RESP connection (for WATCH races, or a client with no credentials yet). */
  client(options?: RedisOptions): Redis;
  /** A raw TCP connection for the text dialect. */
  text(): Promise<RawClient>;
  /** A UDP client (clients/lib/udp-client.ts) to the server's UDP port. */
  udp(options?: Omit<UdpClientOptions, 'host' | 'port'>): Promise<UdpClient>;
}

export interface BackendUnderTest {
  readonly name: BackendName;
  /** etcd or Redis Cluster: the server is a stateless gateway. */
  readonly remote: boolean;
  /**
   * A server on port 0 (TCP, UDP, HTTP) over this backend, ready to serve. In one test,
   * servers over a remote backend share the test's data; over memory each has its own.
   */
  serve(overrides?: TestServerOverrides): Promise<Served>;
}

/** The version a key written earlier in the same EXEC reads with over a remote backend (README matrix). */
export const PENDING_VERSION = Number.MAX_SAFE_INTEGER;

/** Whether a backend's engine is installed; under CI a missing one fails the run (havePeer). */
function available(name: BackendName): boolean {
  if (name === 'memory') return true;
  return name === 'etcd' ? haveEtcd() : haveRedisCluster();
}

/**
 * Declares `body`'s tests once per backend, each in a describe block named for it, which
 * skips (outside CI only) when the engine is not installed. `only` narrows the backends,
 * for a case the guarantee matrix gives to some of them.
 */
export function forEachBackend(body: (b: BackendUnderTest) => void, only: readonly BackendName[] = BACKEND_NAMES): void {
  for (const name of only) {
    describe.skipIf(!available(name))(`[${name}]`, () => body(backendUnderTest(name)));
  }
}

/** Registers the engine's hooks in the calling describe block and answers its BackendUnderTest. */
function backendUnderTest(name: BackendName): BackendUnderTest {
  const open: Array<{ close(): Promise<void> | void }> = [];
  afterEach(async () => {
    for (const o of open.splice(0).reverse()) await o.close();
  });
  const config = engineConfig(name);
  // A Redis Cluster gateway takes a second to be ready (its client's first look at the
  // cluster), so the block's tests share one where they ask for no settings of their own;
  // the cluster is flushed between tests all the same.
  let shared: TestServer | undefined;
  afterAll(async () => {
    await shared?.stop();
  });
  const start = async (overrides: TestServerOverrides): Promise<TestServer> => {
    const server = await startTestServer({ logLevel: 'warn', httpPort: 0, ...overrides, backend: config() });
    await until(() => server.server.store.writeBlocker() === null).catch(async (err: unknown) => {
      await server.stop();
      throw err;
    });
    return server;
  };
  return {
    name,
    remote: name !== 'memory',
    async serve(overrides = {}) {
      let server: TestServer;
      if (name === 'redis-cluster' && Object.keys(overrides).length === 0) server = shared ??= await start(overrides);
      else {
        server = await start(overrides);
        open.push({ close: () => server.stop() });
      }
      const client = (options: RedisOptions = {}): Redis => {
        const r = new Redis({ port: server.tcpPort, host: '127.0.0.1', maxRetriesPerRequest: 0, ...options });
        open.push({ close: () => r.disconnect() });
        return r;
      };
      return {
        server,
        // Connects at its first command: a test of a server with users may never use it.
        redis: client({ lazyConnect: true }),
        http: `http://127.0.0.1:${server.server.httpPort}`,
        client,
        async text() {
          const c = await RawClient.connect(server.tcpPort);
          open.push(c);
          return c;
        },
        async udp(options = {}) {
          const u = await UdpClient.connect({ port: server.udpPort, timeoutMs: 200, retries: 4, ...options });
          open.push(u);
          return u;
        },
      };
    },
  };
}

/** Starts the engine for the block (beforeAll) and answers the config of a test's servers. */
function engineConfig(name: BackendName): () => BackendConfig {
  if (name === 'memory') return () => ({ kind: 'memory' });
  if (name === 'etcd') {
    const fixture = etcdClusterFixture();
    let cluster: EtcdCluster | undefined;
    let prefix = '';
    beforeAll(async () => {
      cluster = await fixture.start({ members: 1 });
    });
    beforeEach(() => {
      prefix = `suite-${randomBytes(4).toString('hex')}/`;
    });
    return () => ({ kind: 'etcd', etcd: { endpoints: (cluster as EtcdCluster).endpoints, prefix, requestTimeoutMs: 3000 } });
  }
  const fixture = redisClusterFixture();
  let cluster: RedisCluster | undefined;
  beforeAll(async () => {
    cluster = await fixture.start({ masters: 3, replicas: 0 });
  });
  beforeEach(async () => {
    const c = cluster as RedisCluster;
    for (const node of await c.masters()) await c.call(node, 'FLUSHALL');
  });
  return () => ({ kind: 'redis-cluster', redisCluster: { nodes: (cluster as RedisCluster).seeds, commandTimeoutMs: 3000 } });
}

/** Every key a whole SCAN walk with MATCH `pattern` returns, sorted (a cursor goes on with the gateway that gave it). */
export async function scanAll(redis: Redis, pattern: string, count = 10): Promise<string[]> {
  const seen = new Set<string>();
  let cursor = '0';
  let steps = 0;
  do {
    const [next, page] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', count);
    for (const k of page) seen.add(k);
    cursor = next;
    if (++steps > 10_000) throw new Error('SCAN did not finish within 10000 steps');
  } while (cursor !== '0');
  return [...seen].sort();
}

/** Every key a whole HTTP listing of `prefix` returns (docs/HTTP.md §3.5), decoded and sorted. */
export async function listAll(http: string, prefix: string, limit = 10, headers: Record<string, string> = {}): Promise<string[]> {
  const seen = new Set<string>();
  let cursor: string | null = null;
  let steps = 0;
  do {
    const res = await fetch(`${http}/v1/kv?prefix=${encodeURIComponent(prefix)}&limit=${limit}${cursor === null ? '' : `&cursor=${cursor}`}`, { headers });
    if (res.status !== 200) throw new Error(`the listing answered ${res.status}: ${await res.text()}`);
    const page = (await res.json()) as { keys: string[]; cursor: string | null };
    for (const k of page.keys) seen.add(decodeURIComponent(k));
    cursor = page.cursor;
    if (++steps > 10_000) throw new Error('the listing did not finish within 10000 pages');
  } while (cursor !== null);
  return [...seen].sort();
}
