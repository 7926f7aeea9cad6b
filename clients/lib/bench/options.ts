import { availableParallelism } from 'node:os';
import { DEFAULT_PORT } from '../../../src/config.js';
import { HEADER_SIZE, CRC_SIZE } from '../../../src/protocol/datagram.js';
import { UsageError } from '../cli-exit-codes.js';
import { DEFAULT_MAX_DATAGRAM_SIZE, DEFAULT_RETRY } from '../udp-client.js';
import { MEMCACHED_HEADER_SIZE, MEMCACHED_MAX_DATAGRAM } from './memcached-codec.js';
import type { LaneShare } from './transport.js';
import { keyName, type Ratio } from './workload.js';
import { formatAddress, resolveServers, type ServerAddress } from '../server-list.js';

/**
 * The transports the engine drives. `tcp` is dualkv's text dialect, `resp` is
 * RESP2 (dualkv or Redis), `udp` is dualkv's datagram protocol, and
 * `memcached-udp` is memcached's UDP protocol: the peer in bench/udp-vs-memcached.
 */
export const TRANSPORTS = ['tcp', 'resp', 'udp', 'memcached-udp'] as const;
export type TransportName = (typeof TRANSPORTS)[number];

export function isDatagram(t: TransportName): boolean {
  return t === 'udp' || t === 'memcached-udp';
}

/** Everything a run needs, checked and with defaults filled in. */
export interface BenchOptions {
  readonly transport: TransportName;
  /** The first server. */
  readonly host: string;
  readonly port: number;
  /** Every server: connections (TCP) and requests in flight (UDP) are spread over them round-robin. */
  readonly servers: readonly ServerAddress[];
  /** TCP connections in all (0 for UDP transports). */
  readonly connections: number;
  /** Requests outstanding per TCP connection (1 for UDP transports). */
  readonly pipeline: number;
  /** UDP requests outstanding in all (0 for TCP transports). */
  readonly inflight: number;
  readonly ratio: Ratio;
  readonly keys: number;
  readonly valueSize: number;
  /** Measured seconds, or null when `requests` is given. */
  readonly durationS: number | null;
  readonly requests: number | null;
  readonly warmupS: number;
  /** Open-loop rate in operations per second (all threads together), or null for closed loop. */
  readonly rate: number | null;
  readonly seed: number;
  readonly threads: number;
  /** TCP: per-request timeout. UDP: the first wait before a retry. Milliseconds. */
  readonly timeoutMs: number;
  /** UDP: resends after the first send. */
  readonly retries: number;
  /** PUT every key once before the run (not measured). */
  readonly preload: boolean;
}

/** The flags as given; undefined means "not given". */
export interface RawOptions {
  transport?: string;
  /** --server values as given (HOST:PORT, comma-separated); else KV_SERVERS, else --host/--port. */
  servers?: readonly string[];
  host?: string;
  port?: number;
  connections?: number;
  pipeline?: number;
  inflight?: number;
  ratio?: string;
  keys?: number;
  valueSize?: number;
  duration?: number;
  requests?: number;
  warmup?: number;
  rate?: number;
  seed?: number;
  threads?: number;
  timeout?: number;
  retries?: number;
  preload?: boolean;
}

export const DEFAULTS = {
  transport: 'tcp' as TransportName,
  host: '127.0.0.1',
  port: DEFAULT_PORT,
  connections: 50,
  pipeline: 1,
  inflight: 64,
  ratio: '8:1:1',
  keys: 10_000,
  valueSize: 100,
  durationS: 10,
  warmupS: 1,
  seed: 1,
  tcpTimeoutMs: 5000,
  udpTimeoutMs: DEFAULT_RETRY.timeoutMs,
  retries: DEFAULT_RETRY.retries,
} as const;

/** Most threads, connections and UDP requests in flight accepted. */
export const MAX_THREADS = 64;
export const MAX_CONNECTIONS = 10_000;
export const MAX_PIPELINE = 10_000;
/** memcached's request IDs are 16 bits, and one socket can tell apart only that many requests. */
export const MAX_INFLIGHT = 65_535;
const MAX_TCP_VALUE = 64 * 1024 * 1024;

/** The default thread count: one per core, never more than there are connections (or requests in flight) to share. */
export function defaultThreads(transport: TransportName, connections: number, inflight: number, servers = 1): number {
  return Math.max(1, Math.min(availableParallelism(), isDatagram(transport) ? Math.floor(inflight / servers) : connections));
}

/** `get:put:del` weights, e.g. `8:1:1` or `1:0:0`. */
export function parseRatio(s: string): Ratio {
  const m = /^\s*(\d+(?:\.\d+)?):(\d+(?:\.\d+)?):(\d+(?:\.\d+)?)\s*$/.exec(s);
  if (!m) throw new UsageError(`--ratio must be get:put:del weights such as 8:1:1; got ${JSON.stringify(s)}`);
  const [get, put, del] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (get + put + del <= 0) throw new UsageError('--ratio needs at least one non-zero weight, e.g. 1:0:0 for GETs only');
  // Whole-number weights keep the seeded operation sequence exact; scale decimals up.
  const scale = [get, put, del].some((x) => !Number.isInteger(x)) ? 1000 : 1;
  return { get: Math.round(get * scale), put: Math.round(put * scale), del: Math.round(del * scale) };
}

function whole(name: string, v: number | undefined, min: number, max: number, fallback: number): number {
  if (v === undefined) return fallback;
  if (!Number.isSafeInteger(v) || v < min || v > max) throw new UsageError(`--${name} must be a whole number from ${min} to ${max}; got ${String(v)}`);
  return v;
}

function positiveNumber(name: string, v: number | undefined, allowZero: boolean): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) throw new UsageError(`--${name} must be a ${allowZero ? 'non-negative' : 'positive'} number; got ${String(v)}`);
  return v;
}

/** Checks the flags against each other and fills in the defaults. Throws UsageError with what to change. */
export function resolveOptions(raw: RawOptions): BenchOptions {
  const transport = (raw.transport ?? DEFAULTS.transport) as TransportName;
  if (!TRANSPORTS.includes(transport)) throw new UsageError(`--transport must be one of ${TRANSPORTS.join(', ')}; got ${JSON.stringify(raw.transport)}`);
  const udp = isDatagram(transport);
  if (udp && (raw.connections !== undefined || raw.pipeline !== undefined)) {
    throw new UsageError(`--connections and --pipeline are for TCP; over ${transport} use --inflight for the number of requests in flight`);
  }
  if (!udp && raw.inflight !== undefined) throw new UsageError(`--inflight is for UDP; over ${transport} use --connections and --pipeline`);
  if (!udp && raw.retries !== undefined) throw new UsageError(`--retries is for UDP; TCP requests are not resent`);
  if (raw.duration !== undefined && raw.requests !== undefined) throw new UsageError('give --duration or --requests, not both');

  if (raw.host !== undefined && raw.host.trim() === '') throw new UsageError('--host must not be empty');
  if (raw.port !== undefined) whole('port', raw.port, 1, 65_535, DEFAULTS.port);
  // kv-bench reads KV_SERVERS, but not KV_HOST/KV_PORT (it never did).
  const servers = resolveServers(
    { serverFlags: raw.servers ?? [], host: raw.host, port: raw.port === undefined ? undefined : String(raw.port), defaultHost: DEFAULTS.host, defaultPort: DEFAULTS.port },
    { KV_SERVERS: process.env.KV_SERVERS },
  );
  const { host, port } = servers[0] as ServerAddress;
  if (servers.length > 1 && transport === 'memcached-udp') throw new UsageError('memcached-udp drives one server; give one --server');
  const connections = udp ? 0 : whole('connections', raw.connections, 1, MAX_CONNECTIONS, DEFAULTS.connections);
  const pipeline = udp ? 1 : whole('pipeline', raw.pipeline, 1, MAX_PIPELINE, DEFAULTS.pipeline);
  const inflight = udp ? whole('inflight', raw.inflight, 1, MAX_INFLIGHT, DEFAULTS.inflight) : 0;
  const ratio = parseRatio(raw.ratio ?? DEFAULTS.ratio);
  const keys = whole('keys', raw.keys, 1, 2 ** 32, DEFAULTS.keys);
  const valueSize = whole('value-size', raw.valueSize, 1, MAX_TCP_VALUE, DEFAULTS.valueSize);
  const durationS = raw.requests !== undefined ? null : (positiveNumber('duration', raw.duration, false) ?? DEFAULTS.durationS);
  const requests = raw.requests === undefined ? null : whole('requests', raw.requests, 1, Number.MAX_SAFE_INTEGER, 0);
  const warmupS = positiveNumber('warmup', raw.warmup, true) ?? DEFAULTS.warmupS;
  const rate = positiveNumber('rate', raw.rate, false) ?? null;
  const seed = whole('seed', raw.seed, 0, 2 ** 32 - 1, DEFAULTS.seed);
  const maxThreads = udp ? inflight : connections;
  const threads = whole('threads', raw.threads, 1, MAX_THREADS, defaultThreads(transport, connections, inflight, servers.length));
  if (threads > maxThreads) {
    throw new UsageError(`--threads ${threads} is more than the ${udp ? `--inflight ${inflight}` : `--connections ${connections}`} to share among them; each thread needs at least one`);
  }
  if (servers.length > 1 && !udp && connections < servers.length) {
    throw new UsageError(`--connections ${connections} is fewer than the ${servers.length} servers; give each server at least one connection`);
  }
  if (servers.length > 1 && udp && inflight < threads * servers.length) {
    throw new UsageError(`--inflight ${inflight} cannot give each of ${threads} threads one request per server (${servers.length} servers); raise --inflight to ${threads * servers.length}, or lower --threads`);
  }
  const timeoutMs = whole('timeout', raw.timeout, 1, 600_000, udp ? DEFAULTS.udpTimeoutMs : DEFAULTS.tcpTimeoutMs);
  const retries = udp ? whole('retries', raw.retries, 0, 20, DEFAULTS.retries) : 0;

  if (udp) {
    const keyLen = keyName(keys - 1, keys).length;
    const size = transport === 'udp' ? HEADER_SIZE + CRC_SIZE + keyLen + valueSize : MEMCACHED_HEADER_SIZE + `set ${'k'.repeat(keyLen)} 0 0 ${valueSize}\r\n\r\n`.length + valueSize;
    const limit = transport === 'udp' ? DEFAULT_MAX_DATAGRAM_SIZE : MEMCACHED_MAX_DATAGRAM;
    if (size > limit) {
      throw new UsageError(`--value-size ${valueSize} makes ${size}-byte datagrams, over the ${limit}-byte limit of ${transport}; use a smaller --value-size, or --transport tcp for large values`);
    }
  }
  return { transport, host, port, servers, connections, pipeline, inflight, ratio, keys, valueSize, durationS, requests, warmupS, rate, seed, threads, timeoutMs, retries, preload: raw.preload ?? false };
}

/** `n` split into `parts` whole shares that differ by at most one. */
export function split(n: number, parts: number, i: number): number {
  return Math.floor(n / parts) + (i < n % parts ? 1 : 0);
}

/** Thread `i`'s lanes: its share of the connections, or one socket with its share of the requests in flight. */
export function laneShare(o: BenchOptions, i: number): LaneShare {
  const udp = isDatagram(o.transport);
  const n = o.servers.length;
  const depth = udp ? split(o.inflight, o.threads, i) : o.pipeline;
  let laneServers: number[];
  let laneDepths: number[];
  if (udp) {
    // One socket per server, the thread's requests in flight split between them.
    laneServers = n === 1 ? [0] : o.servers.map((_, s) => s);
    laneDepths = laneServers.map((s) => split(depth, laneServers.length, s));
  } else {
    // Connection k of the whole run (counted across threads) goes to server k mod n.
    let first = 0;
    for (let t = 0; t < i; t++) first += split(o.connections, o.threads, t);
    laneServers = Array.from({ length: split(o.connections, o.threads, i) }, (_, j) => (first + j) % n);
    laneDepths = laneServers.map(() => depth);
  }
  return {
    host: o.host,
    port: o.port,
    servers: o.servers,
    laneServers,
    laneDepths,
    lanes: laneServers.length,
    depth,
    timeoutMs: o.timeoutMs,
    retries: o.retries,
  };
}

/** The longest a UDP request can take before it times out (the UdpClient's own formula), in ms. */
export function udpRetrySpanMs(timeoutMs: number, retries: number): number {
  let wait = timeoutMs * DEFAULT_RETRY.randomFactor;
  let total = 0;
  for (let i = 0; i <= retries; i++) {
    total += Math.min(wait, DEFAULT_RETRY.maxTimeoutMs);
    wait *= DEFAULT_RETRY.backoffFactor;
  }
  return total;
}

/** How long the end of a run waits for requests still outstanding: as long as one can take, plus a little. */
export function drainMs(o: BenchOptions): number {
  return (isDatagram(o.transport) ? udpRetrySpanMs(o.timeoutMs, o.retries) : o.timeoutMs) + 250;
}
