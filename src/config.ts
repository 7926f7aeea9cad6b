import type { EvictionPolicy } from './backend/memory/eviction.js';
import type { Limits } from './limits.js';
import { backendForLog, MEMORY_BACKEND, type BackendConfig } from './backend/backend-config.js';
import type { TlsConfig } from './frontends/tls-settings.js';

/** The port TCP and UDP listen on unless told otherwise. */
export const DEFAULT_PORT = 7379;

export const FSYNC_POLICIES = ['always', 'everysec', 'no'] as const;
export type FsyncPolicy = (typeof FSYNC_POLICIES)[number];
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** How the UDP socket reads and sends (src/frontends/udp/udp-io.ts). */
export const UDP_IO_MODES = ['auto', 'batched', 'dgram'] as const;
export type UdpIoMode = (typeof UDP_IO_MODES)[number];

export interface UdpConfig {
  /** batched: recvmmsg/sendmmsg (frontends/udp/native/udp_batch.c); dgram: node:dgram; auto: batched when built. */
  readonly io: UdpIoMode;
  /** Largest datagram accepted or sent, in bytes. */
  readonly maxDatagramSize: number;
  /** How long a reply stays in the reply cache, in ms: at least the clients' whole retry span. */
  readonly replyCacheTtlMs: number;
  readonly replyCacheEntries: number;
  readonly replyCacheBytes: number;
  /** Warn lines about malformed datagrams, at most this many a second. */
  readonly rejectLogPerSecond: number;
  /**
   * Peers that may get a reply larger than their request: `loopback`, `any`, or
   * addresses and CIDR blocks (`10.0.0.0/8`, `fd00::/8`). Others get a small refusal.
   */
  readonly largeRepliesTo: readonly string[];
  /** docs/PROTOCOL.md "Authenticated datagrams": how far an AUTH timestamp may be from the server's clock, either way, in ms. */
  readonly authWindowMs: number;
}

export interface MemoryConfig {
  /** Bytes of keys, values and buffers the server may hold before writes are refused; 0: no limit; 'auto': derived at start. */
  readonly maxmemory: number | 'auto';
  /** Query and reply bytes all TCP clients together may hold; a percentage is of the memory limit. */
  readonly maxmemoryClients: number | { readonly percent: number };
  /** Which keys go at the limit (Redis's names); noeviction refuses writes instead. */
  readonly policy: EvictionPolicy;
  /** Keys sampled per eviction round (Redis's maxmemory-samples). */
  readonly samples: number;
}

export interface PersistenceConfig {
  readonly enabled: boolean;
  readonly fsync: FsyncPolicy;
  /** Seconds between snapshots; 0 turns the timer off (SAVE and shutdown still snapshot). */
  readonly snapshotIntervalSec: number;
  /** Cut a corrupt log at its last good record (keeping a backup) instead of refusing to start. */
  readonly repair: boolean;
}

export interface ServerConfig {
  readonly host: string;
  readonly tcpPort: number;
  readonly udpPort: number;
  /** The HTTP API's port (docs/HTTP.md); null: no HTTP front-end (the default). */
  readonly httpPort: number | null;
  /** README "TLS": --tls-port and --https-port with their files; null: no TLS listener (the default). */
  readonly tls: TlsConfig | null;
  readonly dataDir: string;
  readonly logDir: string;
  readonly logLevel: LogLevel;
  readonly logOps: boolean;
  /** Rotate the log file at this size (bytes), keeping `logFiles` old files. */
  readonly logMaxSize: number;
  readonly logFiles: number;
  /** Log bytes each destination (file, stdout) may have waiting to be written; past it lines are dropped and counted. */
  readonly logMaxBacklog: number;
  readonly shutdownTimeoutMs: number;
  readonly memory: MemoryConfig;
  readonly limits: Limits;
  readonly udp: UdpConfig;
  readonly persistence: PersistenceConfig;
  readonly auth: AuthConfig;
  /** README "Gateways": memory (the default), or a remote engine that makes this server a stateless gateway. */
  readonly backend: BackendConfig;
}

/** README "Authentication": who may connect, and how. */
export interface AuthConfig {
  /** A users file (one user a line; reread on SIGHUP); null: none. */
  readonly usersFile: string | null;
  /** The `default` user's password; null: none. Ignored (with a warning) when there is a users file. */
  readonly requirepass: string | null;
  /** With no credentials configured, serve only loopback clients (Redis's protected mode). */
  readonly protectedMode: boolean;
}

export const DEFAULT_AUTH: AuthConfig = { usersFile: null, requirepass: null, protectedMode: true };

export const DEFAULT_LIMITS: Limits = {
  maxKeySize: 1024,
  maxValueSize: 1024 * 1024,
  maxLineSize: 64 * 1024,
  maxConnections: 10_000,
  maxOutputBuffer: 64 * 1024 * 1024,
  maxQueryBuffer: 64 * 1024 * 1024,
  idleTimeoutSec: 0,
  keysLimit: 1_000_000,
};

export const DEFAULT_MEMORY: MemoryConfig = { maxmemory: 'auto', maxmemoryClients: { percent: 10 }, policy: 'noeviction', samples: 5 };

/** Room an unfinished request needs beyond its largest argument (headers, the command name, a key). */
export const QUERY_BUFFER_SLACK = 1024 * 1024;

export const DEFAULT_UDP: UdpConfig = {
  io: 'auto',
  maxDatagramSize: 1400,
  replyCacheTtlMs: 60_000,
  replyCacheEntries: 100_000,
  replyCacheBytes: 64 * 1024 * 1024,
  rejectLogPerSecond: 10,
  largeRepliesTo: ['loopback'],
  authWindowMs: 300_000,
};

/** The embedded defaults, as a config for a server started in-process (tests use this). */
export function defaultConfig(overrides: Partial<ServerConfig> = {}): ServerConfig {
  return {
    host: '127.0.0.1',
    tcpPort: DEFAULT_PORT,
    udpPort: DEFAULT_PORT,
    httpPort: null,
    tls: null,
    dataDir: 'data',
    logDir: 'logs',
    logLevel: 'info',
    logOps: true,
    logMaxSize: 100 * 1024 * 1024,
    logFiles: 5,
    logMaxBacklog: 8 * 1024 * 1024,
    shutdownTimeoutMs: 5000,
    memory: DEFAULT_MEMORY,
    limits: DEFAULT_LIMITS,
    udp: DEFAULT_UDP,
    persistence: { enabled: true, fsync: 'everysec', snapshotIntervalSec: 300, repair: false },
    auth: DEFAULT_AUTH,
    backend: MEMORY_BACKEND,
    ...overrides,
  };
}

/** The config as the start-up line logs it: a password never appears, only whether one is set. */
export function configForLog(config: ServerConfig): ServerConfig {
  return {
    ...config,
    auth: { ...config.auth, requirepass: config.auth.requirepass === null ? null : '(set)' },
    backend: backendForLog(config.backend) as BackendConfig,
  };
}
