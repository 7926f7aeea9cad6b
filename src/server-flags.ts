import { statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import yargs from 'yargs';
import { ConfigError } from './errors.js';
import { EVICTION_POLICIES, type EvictionPolicy } from './backend/memory/eviction.js';
import { sizeFlag } from './sizes.js';
import { backendOptions, buildBackendConfig } from './backend/backend-config.js';
import { TLS_AUTH_CLIENTS, type TlsAuthClients, type TlsConfig } from './frontends/tls-settings.js';
import {
  DEFAULT_LIMITS,
  DEFAULT_PORT,
  DEFAULT_UDP,
  FSYNC_POLICIES,
  LOG_LEVELS,
  QUERY_BUFFER_SLACK,
  UDP_IO_MODES,
  type FsyncPolicy,
  type LogLevel,
  type ServerConfig,
  type UdpIoMode,
} from './config.js';

/**
 * kv-server's flags (and their KV_* variables), and the ServerConfig they make: every
 * value checked, with a message that says what to give instead (src/config.ts holds the
 * config's shape and defaults).
 */

/** The kv-server command line. Every flag can also be set as KV_<FLAG> (e.g. KV_TCP_PORT). */
export function serverArgs(argv: string[]) {
  return backendOptions(yargs(argv))
    .scriptName('kv-server')
    .usage('$0 [options]\n\nStarts dualkv: one in-memory store served over TCP (text and RESP2) and UDP.\nEvery option can also be set as an environment variable KV_<OPTION>, e.g. KV_TCP_PORT=7000.')
    .env('KV')
    .strict()
    // An unknown flag or a value outside a flag's choices: exit 2 with the reason (main.ts), not the whole help.
    .fail((msg, err) => {
      throw err ?? new ConfigError(`${msg.replace(/\s+/g, ' ').trim()} (see kv-server --help)`);
    })
    .version(false)
    .group(['host', 'port', 'tcp-port', 'udp-port', 'http-port'], 'Network:')
    .option('host', { type: 'string', default: '127.0.0.1', describe: 'Address to listen on (0.0.0.0 or :: to expose the server)' })
    .option('port', { type: 'number', default: DEFAULT_PORT, describe: 'Port for TCP and UDP (0 picks free ports)' })
    .option('tcp-port', { type: 'number', describe: 'TCP port (text and RESP2) [default: --port]' })
    .option('udp-port', { type: 'number', describe: 'UDP port [default: --port]' })
    .option('http-port', { type: 'number', describe: 'HTTP API port (docs/HTTP.md; 0 picks a free one) [default: no HTTP]' })
    .group(['tls-port', 'https-port', 'tls-cert', 'tls-key', 'tls-ca', 'tls-auth-clients'], 'TLS:')
    .option('tls-port', { type: 'number', describe: 'TLS port for the TCP protocol (text and RESP2; redis-cli --tls, rediss://; 0 picks a free one) [default: no TLS]' })
    .option('https-port', { type: 'number', describe: 'HTTPS port for the HTTP API (0 picks a free one) [default: no HTTPS]' })
    .option('tls-cert', { type: 'string', describe: 'Server certificate (PEM, chain after it), for --tls-port and --https-port; reread on SIGHUP' })
    .option('tls-key', { type: 'string', describe: "The certificate's private key (PEM, unencrypted); reread on SIGHUP" })
    .option('tls-ca', { type: 'string', describe: 'CA certificates (PEM) that client certificates are checked against; reread on SIGHUP' })
    .option('tls-auth-clients', {
      choices: TLS_AUTH_CLIENTS,
      default: 'no' as TlsAuthClients,
      describe: 'Client certificates: no (not asked for), optional (asked for; one shown must verify against --tls-ca), yes (required)',
    })
    .group(['requirepass', 'users-file', 'protected-mode'], 'Security:')
    .option('requirepass', { type: 'string', describe: 'Password of the default user (better: KV_REQUIREPASS, or --users-file; a flag shows in ps)' })
    .option('users-file', { type: 'string', describe: 'Users, their secrets and permissions, one a line (README "Authentication"); reread on SIGHUP' })
    .option('protected-mode', { type: 'boolean', default: true, describe: 'With no credentials, serve only loopback clients (--no-protected-mode: serve everyone)' })
    .group(['data-dir', 'fsync', 'snapshot-interval', 'repair', 'persistence'], 'Persistence:')
    .option('data-dir', { type: 'string', default: 'data', describe: 'Directory for the log and snapshots' })
    .option('fsync', { choices: FSYNC_POLICIES, default: 'everysec' as FsyncPolicy, describe: 'When the append-only log is fsynced' })
    .option('snapshot-interval', { type: 'number', default: 300, describe: 'Seconds between snapshots (0: only on SAVE and shutdown)' })
    .option('repair', { type: 'boolean', default: false, describe: 'Cut a corrupt log at its last good record (a backup is kept)' })
    .option('persistence', { type: 'boolean', default: true, describe: 'Keep data on disk (--no-persistence: memory only)' })
    .group(['log-dir', 'log-level', 'log-ops', 'log-max-size', 'log-files', 'log-max-backlog'], 'Logging:')
    .option('log-dir', { type: 'string', default: 'logs', describe: 'Directory for JSON log files' })
    .option('log-level', { choices: LOG_LEVELS, default: 'info' as LogLevel, describe: 'Least severe level logged' })
    .option('log-ops', { type: 'boolean', default: true, describe: 'Log every operation (--no-log-ops: server events only)' })
    .option('log-max-size', { type: 'string', default: '100mb', describe: 'Rotate the log file at this size' })
    .option('log-files', { type: 'number', default: 5, describe: 'Rotated log files kept' })
    .option('log-max-backlog', { type: 'string', default: '8mb', describe: 'Log bytes each destination may have waiting; past it, lines are dropped and counted' })
    .group(['maxmemory', 'maxmemory-policy', 'maxmemory-samples', 'maxmemory-clients'], 'Memory:')
    .option('maxmemory', {
      type: 'string',
      default: 'auto',
      describe: 'Memory for keys, values and buffers; at the limit writes get OOM (auto: a third of the memory the process may use; 0: no limit)',
    })
    .option('maxmemory-policy', {
      choices: EVICTION_POLICIES,
      default: 'noeviction' as EvictionPolicy,
      describe: 'At --maxmemory: refuse writes (noeviction), or evict keys: least recently used (lru), nearest expiry (volatile-ttl) or random, among all keys or only those with a TTL (volatile-)',
    })
    .option('maxmemory-samples', { type: 'number', default: 5, describe: 'Keys sampled per eviction (more: closer to exact LRU/TTL, slower)' })
    .option('maxmemory-clients', { type: 'string', default: '10%', describe: 'Query and reply bytes of all TCP and HTTP clients together; past it the largest is disconnected (N% of --maxmemory, at least 32mb)' })
    .group(['max-key-size', 'max-value-size', 'max-line-size', 'max-query-buffer', 'max-connections', 'max-output-buffer', 'timeout', 'keys-limit'], 'Limits:')
    .option('max-key-size', { type: 'string', default: String(DEFAULT_LIMITS.maxKeySize), describe: 'Largest key' })
    .option('max-value-size', { type: 'string', default: String(DEFAULT_LIMITS.maxValueSize), describe: 'Largest value' })
    .option('max-line-size', { type: 'string', default: String(DEFAULT_LIMITS.maxLineSize), describe: 'Longest text-dialect or inline line' })
    .option('max-query-buffer', {
      type: 'string',
      default: 'auto',
      describe: 'Bytes of one unfinished request a TCP client may send; past it the client gets an error and is disconnected (auto: 64mb, or more for a larger --max-value-size)',
    })
    .option('max-connections', { type: 'number', default: DEFAULT_LIMITS.maxConnections, describe: 'Most TCP clients at once, and most HTTP connections (lowered to fit the open-files limit)' })
    .option('max-output-buffer', {
      type: 'string',
      default: 'auto',
      describe: 'Reply bytes one TCP client may be owed before it is disconnected; reading pauses at 1mb (auto: 64mb, or twice a larger --max-value-size)',
    })
    .option('timeout', { type: 'number', default: 0, describe: 'Seconds a TCP client may stay idle before it is closed (0: never)' })
    .option('keys-limit', {
      type: 'number',
      default: DEFAULT_LIMITS.keysLimit,
      describe: 'Most keys KEYS may walk: it holds every client up until it is done (SCAN does not); 0: no limit',
    })
    .group(['udp-io', 'max-datagram-size', 'reply-cache-ttl', 'reply-cache-entries', 'reply-cache-bytes', 'udp-large-replies-to', 'udp-auth-window'], 'UDP:')
    .option('udp-io', {
      choices: UDP_IO_MODES,
      default: DEFAULT_UDP.io as UdpIoMode,
      describe: 'UDP socket I/O: batched (recvmmsg/sendmmsg, Linux, built at install), dgram (node:dgram), auto (batched when built)',
    })
    .option('max-datagram-size', { type: 'number', default: DEFAULT_UDP.maxDatagramSize, describe: 'Largest UDP datagram accepted or sent, in bytes' })
    .option('reply-cache-ttl', { type: 'number', default: DEFAULT_UDP.replyCacheTtlMs, describe: 'Milliseconds a UDP reply is kept for retries' })
    .option('reply-cache-entries', { type: 'number', default: DEFAULT_UDP.replyCacheEntries, describe: 'Most UDP replies kept for retries' })
    .option('reply-cache-bytes', { type: 'string', default: String(DEFAULT_UDP.replyCacheBytes), describe: 'Most bytes of UDP replies kept for retries' })
    .option('udp-large-replies-to', {
      type: 'string',
      default: 'loopback',
      describe: 'Peers that may get a UDP reply larger than their request: loopback, any, or addresses and CIDR blocks, comma-separated',
    })
    .option('udp-auth-window', {
      type: 'number',
      default: DEFAULT_UDP.authWindowMs / 1000,
      describe: 'Seconds an authenticated datagram\'s timestamp may be off the server\'s clock, either way (docs/PROTOCOL.md "Authenticated datagrams")',
    })
    .option('shutdown-timeout', { type: 'number', default: 5000, describe: 'Milliseconds to finish in-flight work on SIGTERM/SIGINT' })
    .group(['backend', 'etcd-endpoints', 'etcd-prefix', 'etcd-request-prefix', 'etcd-user', 'etcd-password-file', 'etcd-tls-ca', 'etcd-tls-cert', 'etcd-tls-key', 'redis-cluster-nodes', 'redis-cluster-user', 'redis-cluster-password-file', 'redis-cluster-tls', 'redis-cluster-tls-ca', 'redis-cluster-tls-cert', 'redis-cluster-tls-key', 'backend-timeout'], 'Backend (README "Gateways"):')
    .help()
    .alias('help', 'h')
    .wrap(Math.min(110, process.stdout.columns || 110));
}

/**
 * A flag given twice is refused: yargs adds repeated number flags up
 * (`--port 7000 --port 1` gave 7001), which no one means.
 */
export function rejectRepeatedFlags(argv: readonly string[]): void {
  const seen = new Set<string>();
  for (const arg of argv) {
    if (arg === '--') break;
    if (!arg.startsWith('--')) continue;
    const name = arg.slice(2).split('=')[0]?.replace(/^no-/, '') ?? '';
    if (seen.has(name)) throw new ConfigError(`--${name} is given more than once; give it once`);
    seen.add(name);
  }
}

type ParsedArgs = Awaited<ReturnType<ReturnType<typeof serverArgs>['parse']>>;

function port(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 65535) {
    throw new ConfigError(`--${name} must be a whole number from 0 to 65535 (0 picks a free port); got ${String(v)}`);
  }
  return v;
}

function positive(name: string, v: unknown, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ConfigError(`--${name} must be a whole number from ${min} to ${max}; got ${String(v)}`);
  }
  return v;
}

/** A directory flag must not name something that is not a directory. It is created at start if missing. */
function directory(name: string, v: unknown): string {
  if (typeof v !== 'string' || v === '') throw new ConfigError(`--${name} must be a directory path`);
  try {
    if (!statSync(v).isDirectory()) {
      throw new ConfigError(`--${name} ${v} exists and is not a directory; point it at a directory`);
    }
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new ConfigError(`--${name} ${v} cannot be used: ${(err as Error).message}`, { cause: err });
    }
  }
  return path.resolve(v);
}

/** Checks parsed flags and builds the config; throws ConfigError with a message for the user. */
export function buildConfig(a: ParsedArgs): ServerConfig {
  if (a['users-file'] && a.requirepass) throw new ConfigError('give --users-file or --requirepass (KV_REQUIREPASS), not both: the users file can hold the default user');
  const basePort = port('port', a.port);
  const maxKeySize = sizeFlag('max-key-size', a['max-key-size'], 1, 512 * 1024 * 1024);
  const maxValueSize = sizeFlag('max-value-size', a['max-value-size'], 1, 512 * 1024 * 1024);
  // An unfinished request must have room for its largest argument and the words around it.
  const minQuery = Math.max(maxKeySize, maxValueSize) + QUERY_BUFFER_SLACK;
  const maxQueryBuffer =
    a['max-query-buffer'] === 'auto'
      ? Math.max(DEFAULT_LIMITS.maxQueryBuffer, minQuery)
      : sizeFlag('max-query-buffer', a['max-query-buffer'], minQuery, 4 * 1024 ** 3);
  const backend = buildBackendConfig(a);
  const remote = backend.kind !== 'memory';
  return {
    host: a.host,
    tcpPort: a['tcp-port'] === undefined ? basePort : port('tcp-port', a['tcp-port']),
    udpPort: a['udp-port'] === undefined ? basePort : port('udp-port', a['udp-port']),
    httpPort: a['http-port'] === undefined ? null : port('http-port', a['http-port']),
    tls: tlsConfig(a),
    // A gateway keeps no data: its --data-dir is neither made nor locked.
    dataDir: remote ? path.resolve(a['data-dir']) : directory('data-dir', a['data-dir']),
    logDir: directory('log-dir', a['log-dir']),
    logLevel: a['log-level'],
    logOps: a['log-ops'],
    logMaxSize: sizeFlag('log-max-size', a['log-max-size'], 1024),
    logFiles: positive('log-files', a['log-files'], 1, 1000),
    logMaxBacklog: sizeFlag('log-max-backlog', a['log-max-backlog'], 64 * 1024),
    shutdownTimeoutMs: positive('shutdown-timeout', a['shutdown-timeout'], 100),
    memory: {
      maxmemory: a.maxmemory === 'auto' ? 'auto' : sizeFlag('maxmemory', a.maxmemory, 0, Number.MAX_SAFE_INTEGER, ' (or auto; 0 for no limit)'),
      maxmemoryClients: sizeOrPercent('maxmemory-clients', a['maxmemory-clients']),
      policy: a['maxmemory-policy'],
      samples: positive('maxmemory-samples', a['maxmemory-samples'], 1, 64),
    },
    limits: {
      maxKeySize,
      maxValueSize,
      maxLineSize: sizeFlag('max-line-size', a['max-line-size'], 64, 512 * 1024 * 1024),
      maxConnections: positive('max-connections', a['max-connections'], 1),
      maxOutputBuffer:
        a['max-output-buffer'] === 'auto'
          ? Math.max(DEFAULT_LIMITS.maxOutputBuffer, 2 * maxValueSize)
          : sizeFlag('max-output-buffer', a['max-output-buffer'], minQuery, Number.MAX_SAFE_INTEGER, ' (room for the largest value)'),
      maxQueryBuffer,
      idleTimeoutSec: positive('timeout', a.timeout, 0, 365 * 24 * 3600),
      keysLimit: positive('keys-limit', a['keys-limit'], 0),
    },
    udp: {
      io: a['udp-io'],
      maxDatagramSize: positive('max-datagram-size', a['max-datagram-size'], 64, 65507),
      replyCacheTtlMs: positive('reply-cache-ttl', a['reply-cache-ttl'], 100),
      replyCacheEntries: positive('reply-cache-entries', a['reply-cache-entries'], 1),
      replyCacheBytes: sizeFlag('reply-cache-bytes', a['reply-cache-bytes'], 1024),
      rejectLogPerSecond: DEFAULT_UDP.rejectLogPerSecond,
      largeRepliesTo: peerList('udp-large-replies-to', a['udp-large-replies-to']),
      authWindowMs: positive('udp-auth-window', a['udp-auth-window'], 1, 24 * 3600) * 1000,
    },
    persistence: {
      enabled: a.persistence && !remote,
      fsync: a.fsync,
      snapshotIntervalSec: positive('snapshot-interval', a['snapshot-interval'], 0),
      repair: a.repair,
    },
    auth: {
      usersFile: a['users-file'] === undefined || a['users-file'] === '' ? null : a['users-file'],
      requirepass: a.requirepass === undefined || a.requirepass === '' ? null : a.requirepass,
      protectedMode: a['protected-mode'],
    },
    backend,
  };
}

/** The TLS flags checked together: files are read at start (src/frontends/tls-settings.ts), where an unreadable one is named. */
function tlsConfig(a: ParsedArgs): TlsConfig | null {
  const tlsPort = a['tls-port'] === undefined ? null : port('tls-port', a['tls-port']);
  const httpsPort = a['https-port'] === undefined ? null : port('https-port', a['https-port']);
  const given = (v: string | undefined) => (v === undefined || v === '' ? null : v);
  const cert = given(a['tls-cert']);
  const key = given(a['tls-key']);
  const ca = given(a['tls-ca']);
  const authClients = a['tls-auth-clients'];
  if (tlsPort === null && httpsPort === null) {
    const stray = [cert !== null && '--tls-cert', key !== null && '--tls-key', ca !== null && '--tls-ca', authClients !== 'no' && '--tls-auth-clients'].filter(Boolean);
    if (stray.length > 0) throw new ConfigError(`${stray.join(', ')} given without --tls-port or --https-port; give a TLS port (or drop the TLS flags)`);
    return null;
  }
  if (cert === null || key === null) throw new ConfigError('--tls-port and --https-port need --tls-cert and --tls-key (PEM files: the server certificate and its private key)');
  if (authClients !== 'no' && ca === null) throw new ConfigError(`--tls-auth-clients ${authClients} needs --tls-ca, the CA certificates that client certificates are checked against`);
  return { port: tlsPort, httpsPort, cert, key, ca, authClients };
}

/** `N%` or a size. */
function sizeOrPercent(name: string, v: unknown): number | { percent: number } {
  const m = typeof v === 'string' ? /^\s*(\d{1,3})\s*%\s*$/.exec(v) : null;
  if (m === null) return sizeFlag(name, v, 1024 * 1024, Number.MAX_SAFE_INTEGER, ' (or a percentage of --maxmemory, such as 10%)');
  const percent = Number(m[1]);
  if (percent < 1 || percent > 100) throw new ConfigError(`--${name} as a percentage must be from 1% to 100%; got ${String(v)}`);
  return { percent };
}

/** `loopback`, `any`, or addresses and CIDR blocks, comma-separated: each item checked. */
function peerList(name: string, v: unknown): string[] {
  const items = String(v ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '');
  if (items.length === 0) throw new ConfigError(`--${name} must name at least one of loopback, any, an address or a CIDR block`);
  for (const item of items) {
    if (item === 'loopback' || item === 'any') continue;
    const [addr, prefix, extra] = item.split('/');
    const family = net.isIP(addr ?? '');
    const bits = family === 4 ? 32 : 128;
    const okPrefix = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= bits);
    if (family === 0 || !okPrefix || extra !== undefined) {
      throw new ConfigError(`--${name}: ${item} is not loopback, any, an IP address or a CIDR block such as 10.0.0.0/8`);
    }
  }
  return items;
}
