import { readFileSync } from 'node:fs';
import type { Argv } from 'yargs';
import { ConfigError } from '../errors.js';
import type { EtcdSettings } from './etcd/etcd-engine.js';
import { prefixOverlap, requestPrefixFor } from './etcd/request-prefix.js';
import type { RedisClusterSettings } from './redis-cluster/redis-cluster-engine.js';

export const BACKEND_KINDS = ['memory', 'etcd', 'redis-cluster'] as const;
export type BackendKind = (typeof BACKEND_KINDS)[number];

/** README "Gateways": which backend holds the data, and how to reach a remote one. */
export type BackendConfig =
  | { readonly kind: 'memory' }
  | { readonly kind: 'etcd'; readonly etcd: EtcdSettings }
  | { readonly kind: 'redis-cluster'; readonly redisCluster: RedisClusterSettings };

export const MEMORY_BACKEND: BackendConfig = { kind: 'memory' };

/** The backend flags (each also KV_<FLAG>); a password is read from a file or the environment, never from a flag. */
export function backendOptions<T>(y: Argv<T>) {
  return y
    .option('backend', { choices: BACKEND_KINDS, default: 'memory' as BackendKind, describe: 'Where the data lives: memory (this process, with --data-dir), or a remote engine (the server becomes a stateless gateway)' })
    .option('etcd-endpoints', { type: 'string', describe: 'etcd endpoints, comma-separated (http://127.0.0.1:2379,…) [--backend etcd]' })
    .option('etcd-prefix', { type: 'string', default: 'dualkv/', describe: 'Prefix of every key in etcd' })
    .option('etcd-request-prefix', { type: 'string', describe: 'Prefix of the UDP request records the gateways share (default: the key prefix with its last / made .udp-requests/)' })
    .option('etcd-user', { type: 'string', describe: "etcd user (with etcd's auth enabled)" })
    .option('etcd-password-file', { type: 'string', describe: "File holding the etcd user's password (or KV_ETCD_PASSWORD)" })
    .option('etcd-tls-ca', { type: 'string', describe: "CA certificates (PEM) to check etcd's with; turns TLS on" })
    .option('etcd-tls-cert', { type: 'string', describe: 'Client certificate (PEM) for etcd' })
    .option('etcd-tls-key', { type: 'string', describe: "The client certificate's key (PEM)" })
    .option('redis-cluster-nodes', { type: 'string', describe: 'Redis Cluster seed nodes, comma-separated host:port [--backend redis-cluster]' })
    .option('redis-cluster-user', { type: 'string', describe: 'Redis Cluster ACL user' })
    .option('redis-cluster-password-file', { type: 'string', describe: "File holding the Redis Cluster user's password (or KV_REDIS_CLUSTER_PASSWORD)" })
    .option('redis-cluster-tls', { type: 'boolean', default: false, describe: 'TLS to every Redis Cluster node' })
    .option('redis-cluster-tls-ca', { type: 'string', describe: "CA certificates (PEM) to check the nodes' with" })
    .option('redis-cluster-tls-cert', { type: 'string', describe: 'Client certificate (PEM) for the nodes' })
    .option('redis-cluster-tls-key', { type: 'string', describe: "The client certificate's key (PEM)" })
    .option('backend-timeout', { type: 'number', default: 5000, describe: 'Milliseconds one request to the remote engine may take' });
}

interface BackendArgs {
  readonly backend: BackendKind;
  readonly 'etcd-endpoints'?: string;
  readonly 'etcd-prefix': string;
  readonly 'etcd-request-prefix'?: string;
  readonly 'etcd-user'?: string;
  readonly 'etcd-password-file'?: string;
  readonly 'etcd-tls-ca'?: string;
  readonly 'etcd-tls-cert'?: string;
  readonly 'etcd-tls-key'?: string;
  readonly 'redis-cluster-nodes'?: string;
  readonly 'redis-cluster-user'?: string;
  readonly 'redis-cluster-password-file'?: string;
  readonly 'redis-cluster-tls': boolean;
  readonly 'redis-cluster-tls-ca'?: string;
  readonly 'redis-cluster-tls-cert'?: string;
  readonly 'redis-cluster-tls-key'?: string;
  readonly 'backend-timeout': number;
}

const given = (v: string | undefined): string | null => (v === undefined || v.trim() === '' ? null : v.trim());

function list(name: string, v: string | undefined): string[] {
  const items = (given(v) ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw new ConfigError(`--${name} is needed: give the engine's addresses, comma-separated`);
  return items;
}

function readSecretFile(flag: string, file: string): string {
  try {
    // A trailing newline is the editor's, not the password's.
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new ConfigError(`--${flag} ${file} cannot be read: ${(err as Error).message}`, { cause: err });
  }
}

function readPem(flag: string, file: string | undefined): string | undefined {
  const f = given(file);
  if (f === null) return undefined;
  try {
    return readFileSync(f, 'utf8');
  } catch (err) {
    throw new ConfigError(`--${flag} ${f} cannot be read: ${(err as Error).message}`, { cause: err });
  }
}

function password(flag: string, file: string | undefined, envName: string, env: NodeJS.ProcessEnv): string | undefined {
  const f = given(file);
  if (f !== null) return readSecretFile(flag, f);
  const fromEnv = env[envName];
  return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
}

/** Checks the backend flags and reads the files they name; a flag for another backend than the chosen one is refused. */
export function buildBackendConfig(a: BackendArgs, env: NodeJS.ProcessEnv = process.env): BackendConfig {
  const timeout = a['backend-timeout'];
  if (!Number.isInteger(timeout) || timeout < 100 || timeout > 600_000) throw new ConfigError(`--backend-timeout must be a whole number of ms from 100 to 600000; got ${String(timeout)}`);
  const etcdFlags = ['etcd-endpoints', 'etcd-request-prefix', 'etcd-user', 'etcd-password-file', 'etcd-tls-ca', 'etcd-tls-cert', 'etcd-tls-key'] as const;
  const clusterFlags = ['redis-cluster-nodes', 'redis-cluster-user', 'redis-cluster-password-file', 'redis-cluster-tls-ca', 'redis-cluster-tls-cert', 'redis-cluster-tls-key'] as const;
  const stray = (flags: readonly (keyof BackendArgs)[]) => flags.filter((f) => given(a[f] as string | undefined) !== null).map((f) => `--${f}`);
  const misplaced = [...(a.backend === 'etcd' ? [] : stray(etcdFlags)), ...(a.backend === 'redis-cluster' ? [] : stray(clusterFlags))];
  if (a.backend !== 'redis-cluster' && a['redis-cluster-tls']) misplaced.push('--redis-cluster-tls');
  if (misplaced.length > 0) throw new ConfigError(`${misplaced.join(', ')} given with --backend ${a.backend}; give the backend they belong to, or drop them`);
  switch (a.backend) {
    case 'memory':
      return MEMORY_BACKEND;
    case 'etcd': {
      const endpoints = list('etcd-endpoints', a['etcd-endpoints']);
      for (const e of endpoints) {
        if (!/^(https?:\/\/)?(\[[0-9a-fA-F:.]+\]|[^/:\s]+):\d+$/.test(e)) throw new ConfigError(`--etcd-endpoints: "${e}" is not http://host:port`);
      }
      const ca = readPem('etcd-tls-ca', a['etcd-tls-ca']);
      const cert = readPem('etcd-tls-cert', a['etcd-tls-cert']);
      const key = readPem('etcd-tls-key', a['etcd-tls-key']);
      if ((cert === undefined) !== (key === undefined)) throw new ConfigError('--etcd-tls-cert and --etcd-tls-key go together');
      if (cert !== undefined && ca === undefined) throw new ConfigError('--etcd-tls-cert needs --etcd-tls-ca, which turns TLS to etcd on');
      const tls = ca === undefined ? null : { ca, cert, key };
      if (tls === null && endpoints.some((e) => e.startsWith('https://'))) throw new ConfigError('an https:// etcd endpoint needs --etcd-tls-ca');
      const user = given(a['etcd-user']) ?? undefined;
      const pass = password('etcd-password-file', a['etcd-password-file'], 'KV_ETCD_PASSWORD', env);
      if (pass !== undefined && user === undefined) throw new ConfigError("an etcd password needs --etcd-user, the user it belongs to");
      const requestPrefix = given(a['etcd-request-prefix']) ?? requestPrefixFor(a['etcd-prefix']);
      const overlap = prefixOverlap(a['etcd-prefix'], requestPrefix);
      if (overlap !== null) throw new ConfigError(overlap);
      return {
        kind: 'etcd',
        etcd: { endpoints, prefix: a['etcd-prefix'], requestPrefix, user, password: pass, tls, requestTimeoutMs: timeout },
      };
    }
    case 'redis-cluster': {
      const nodes = list('redis-cluster-nodes', a['redis-cluster-nodes']);
      for (const n of nodes) if (!/^(\[[0-9a-fA-F:.]+\]|[^/:\s]+):\d+$/.test(n)) throw new ConfigError(`--redis-cluster-nodes: "${n}" is not host:port`);
      const ca = readPem('redis-cluster-tls-ca', a['redis-cluster-tls-ca']);
      const cert = readPem('redis-cluster-tls-cert', a['redis-cluster-tls-cert']);
      const key = readPem('redis-cluster-tls-key', a['redis-cluster-tls-key']);
      if ((ca !== undefined || cert !== undefined) && !a['redis-cluster-tls']) throw new ConfigError('--redis-cluster-tls-* files need --redis-cluster-tls');
      if ((cert === undefined) !== (key === undefined)) throw new ConfigError('--redis-cluster-tls-cert and --redis-cluster-tls-key go together');
      return {
        kind: 'redis-cluster',
        redisCluster: {
          nodes,
          user: given(a['redis-cluster-user']) ?? undefined,
          password: password('redis-cluster-password-file', a['redis-cluster-password-file'], 'KV_REDIS_CLUSTER_PASSWORD', env),
          tls: a['redis-cluster-tls'] ? { ca, cert, key } : null,
          commandTimeoutMs: timeout,
        },
      };
    }
  }
}

/** The backend config as the start-up line logs it: passwords and keys never appear. */
export function backendForLog(b: BackendConfig): unknown {
  switch (b.kind) {
    case 'memory':
      return b;
    case 'etcd':
      return { kind: b.kind, endpoints: b.etcd.endpoints, prefix: b.etcd.prefix, requestPrefix: b.etcd.requestPrefix, user: b.etcd.user, password: b.etcd.password === undefined ? undefined : '(set)', tls: b.etcd.tls !== null };
    case 'redis-cluster':
      return { kind: b.kind, nodes: b.redisCluster.nodes, user: b.redisCluster.user, password: b.redisCluster.password === undefined ? undefined : '(set)', tls: b.redisCluster.tls !== null };
  }
}

/** Where an etcd backend is, for logs and INFO (never a secret). */
export function describeEtcd(s: EtcdSettings): string {
  return `etcd at ${s.endpoints.join(',')} under ${JSON.stringify(s.prefix)}`;
}

/** Where a Redis Cluster backend is, for logs and INFO (never a secret). */
export function describeRedisCluster(s: RedisClusterSettings): string {
  return `Redis Cluster at ${s.nodes.join(',')}`;
}
