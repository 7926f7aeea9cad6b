import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { KvError } from '../../src/errors.js';
import { Opcode, Status, STATUS_NAMES, type Extension } from '../../src/protocol/datagram.js';
import { requestExtensions, type RequestOptionsInput } from '../../src/protocol/datagram-extensions.js';
import { DEFAULT_HOST, DEFAULT_PORT, type CasResult, type ExpiryOptions, type UdpClientOptions, type UdpResult, type VersionedValue } from './udp-client-options.js';
import { replyError } from './udp-errors.js';
import { ServerPool } from './udp-server-pool.js';
import { UdpTransport } from './udp-transport.js';

export { TimeoutError, UdpReplyError } from './udp-errors.js';
export { Opcode, Status } from '../../src/protocol/datagram.js';

export {
  DEFAULT_HOST,
  DEFAULT_MAX_DATAGRAM_SIZE,
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_PORT,
  DEFAULT_RETRY,
  type CasResult,
  type ExpiryOptions,
  type UdpClientEvent,
  type UdpClientOptions,
  type UdpResult,
  type VersionedValue,
} from './udp-client-options.js';

type Input = string | Uint8Array;

/** User strings are UTF-8 text; bytes go as they are. */
function toBytes(v: Input): Uint8Array {
  return typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
}

/**
 * A client for dualkv's UDP protocol (docs/PROTOCOL.md, udp section) on one socket.
 *
 * - Request IDs start at a random 32-bit value and count up, skipping any still in
 *   flight, so an ID is unique among the requests in flight and is not reused until
 *   2^32 requests later: long after the server's reply cache forgot it.
 * - A request is resent with the same ID (and the same bytes) on each timeout,
 *   with randomised exponential backoff; the server's reply cache makes a resent
 *   write (PUT, DEL, EXPIRE, a compare-and-set) take effect once. A BAD_CHECKSUM
 *   refusal is resent at once.
 * - A reply counts only if its CRC checks, it is a reply, and its ID is in flight;
 *   anything else is ignored (and reported to `onEvent`).
 * - Failure is a TimeoutError (attempts, elapsed time) or a UdpReplyError.
 */
export class UdpClient extends UdpTransport {
  /**
   * Opens a socket connected to the server (so only its datagrams are read). No
   * datagram is sent. With several `servers`, the one socket is not connected: it
   * sends to each, and reads only datagrams from their addresses.
   */
  static async connect(opts: UdpClientOptions = {}): Promise<UdpClient> {
    const servers = opts.servers ?? [{ host: opts.host ?? DEFAULT_HOST, port: opts.port ?? DEFAULT_PORT }];
    if (servers.length === 0) throw new RangeError('servers must list at least one server');
    const pool = new ServerPool(servers, { spread: opts.spread, cooldownMs: opts.cooldownMs });
    const first = servers[0] as { host: string; port: number };
    if (servers.length > 1) return UdpClient.connectMany({ ...opts, host: first.host, port: first.port }, pool);
    const host = first.host;
    const port = first.port;
    const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.connect(port, host, () => {
        socket.off('error', reject);
        resolve();
      });
    }).catch((err: Error) => {
      socket.close();
      throw new KvError('CONNECTION', `cannot reach udp://${host}:${port}: ${err.message}`, { cause: err });
    });
    return new UdpClient(socket, { ...opts, host, port }, pool, null);
  }

  /** Several servers on one unconnected socket: every name resolved once, all of one address family. */
  private static async connectMany(opts: UdpClientOptions, pool: ServerPool): Promise<UdpClient> {
    const targets = await Promise.all(
      pool.servers.map(async (s, i) => {
        try {
          const r = await lookup(s.host);
          return { address: r.address, port: s.port, family: r.family };
        } catch (err) {
          throw new KvError('CONNECTION', `cannot resolve ${pool.name(i)}: ${(err as Error).message}`, { cause: err });
        }
      }),
    );
    const family = (targets[0] as { family: number }).family;
    if (targets.some((t) => t.family !== family)) {
      throw new KvError('CONNECTION', `the servers mix IPv4 and IPv6 addresses (${pool.servers.map((_, i) => pool.name(i)).join(', ')}); one socket speaks one family: list servers of one family`);
    }
    const socket = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return new UdpClient(socket, opts, pool, targets);
  }

  /** GET: the value, or null when the key does not exist. */
  async get(key: Input): Promise<Buffer | null> {
    const r = await this.request(Opcode.GET, toBytes(key));
    if (r.status === Status.NOT_FOUND) return null;
    return expectOk(r).value;
  }

  /** PUT; with `ttlMs` the key expires that long after the server stores it, with `keepTtl` it keeps its expiry. */
  async put(key: Input, value: Input, opts: ExpiryOptions = {}): Promise<void> {
    expectOk(await this.request(Opcode.PUT, toBytes(key), toBytes(value), expiryExtensions(opts)));
  }

  /** DEL: true when the key existed. */
  async del(key: Input): Promise<boolean> {
    return found(await this.request(Opcode.DEL, toBytes(key)));
  }

  /** GET with WANT_VERSION: the value with its version and expiry, or null when the key does not exist. */
  async getVersioned(key: Input): Promise<VersionedValue | null> {
    return versionedValue(await this.request(Opcode.GET, toBytes(key), undefined, WANT_VERSION));
  }

  /**
   * PUT with IF_VERSION: stores `value` only if the key's version is still
   * `version` (0: only if the key does not exist). Applied, it answers the new
   * version; not, the key's current one (0: absent). A retry is answered from the
   * server's reply cache, so it is applied once and reads as the first answer did.
   */
  async cas(key: Input, version: number, value: Input, opts: ExpiryOptions = {}): Promise<CasResult> {
    return casResult(await this.request(Opcode.PUT, toBytes(key), toBytes(value), casExtensions(version, opts)));
  }

  /** DEL with IF_VERSION: deletes the key only if its version is still `version`. */
  async cad(key: Input, version: number): Promise<CasResult> {
    return casResult(await this.request(Opcode.DEL, toBytes(key), undefined, casExtensions(version)));
  }

  /** EXPIRE with TTL: the key expires `ttlMs` from now (0: at once). False when there is no such key. */
  async expire(key: Input, ttlMs: number): Promise<boolean> {
    return found(await this.request(Opcode.EXPIRE, toBytes(key), undefined, expireExtensions(ttlMs)));
  }

  /** EXPIRE without TTL: the key no longer expires. False when there is no such key, or it had no expiry. */
  async persist(key: Input): Promise<boolean> {
    return found(await this.request(Opcode.EXPIRE, toBytes(key)));
  }

  /** PING: resolves with the round trip time in ms (of the attempt that was answered, plus any retries). */
  async ping(): Promise<number> {
    return expectOk(await this.request(Opcode.PING, undefined, PING_PAYLOAD)).elapsedMs;
  }

  /** STATS: the server's counters as INFO text; one section when `section` is given. */
  async stats(section?: string): Promise<string> {
    return expectOk(await this.request(Opcode.STATS, section ? toBytes(section) : undefined)).value.toString('utf8');
  }

  /**
   * Every STATS section. The whole text rarely fits in one datagram; the server
   * then names the sections it left out (`# Omitted: a,b`), and they are fetched
   * one by one.
   */
  async allStats(): Promise<string> {
    const first = await this.stats();
    const m = /(?:^|\r\n)# Omitted: ([^\r\n]*)\r\n$/.exec(first);
    if (!m) return first;
    const parts = [first.slice(0, m.index).replace(/\r\n$/, '')];
    for (const name of (m[1] as string).split(',').filter(Boolean)) parts.push((await this.stats(name)).replace(/\r\n$/, ''));
    return parts.filter(Boolean).join('\r\n\r\n') + '\r\n';
  }
}

/**
 * What PING carries: the server echoes it, so the reply is no larger than the request
 * and reaches a client outside --udp-large-replies-to too (a bare PING's PONG is
 * larger; docs/PROTOCOL.md, udp "Amplification"). It reads as the usual answer.
 */
export const PING_PAYLOAD = Buffer.from('PONG');

/** A reply with status OK, else the UdpReplyError it stands for. */
function expectOk(r: UdpResult): UdpResult {
  if (r.status !== Status.OK) throw replyError(r.status, r.value);
  return r;
}

/*
 * How the requests behind the methods above are made and their replies read;
 * exported for callers that send with request() to see attempts and timing (kv-udp).
 */

/** OK: true; NOT_FOUND: false (DEL, EXPIRE). */
export function found(r: UdpResult): boolean {
  if (r.status === Status.NOT_FOUND) return false;
  expectOk(r);
  return true;
}

function expiryOptions(opts: ExpiryOptions): RequestOptionsInput {
  if (opts.ttlMs !== undefined && opts.keepTtl) throw new RangeError('ttlMs and keepTtl contradict each other: give one of them');
  return { ttlMs: opts.ttlMs, keepTtl: opts.keepTtl };
}

/** No extensions at all for a plain PUT, so that it stays the datagram it always was. */
export function expiryExtensions(opts: ExpiryOptions): Extension[] | undefined {
  return opts.ttlMs === undefined && !opts.keepTtl ? undefined : requestExtensions(expiryOptions(opts));
}

/** PUT with IF_VERSION, and TTL or KEEPTTL when asked. */
export function casExtensions(version: number, opts: ExpiryOptions = {}): Extension[] {
  return requestExtensions({ ...expiryOptions(opts), ifVersion: version });
}

/** EXPIRE: with TTL (`ttlMs`), or without (null: PERSIST). */
export function expireExtensions(ttlMs: number | null): Extension[] | undefined {
  return ttlMs === null ? undefined : requestExtensions({ ttlMs });
}

/** GET with WANT_VERSION. */
export const WANT_VERSION: readonly Extension[] = requestExtensions({ wantVersion: true });

/** A GET with WANT_VERSION's reply: null for NOT_FOUND. */
export function versionedValue(r: UdpResult): VersionedValue | null {
  if (r.status === Status.NOT_FOUND) return null;
  expectOk(r);
  // An expiry past 2^53 ms (285,000 years) needs no exactness: the nearest number will do.
  return { value: r.value, version: replyVersion(r), expiresAt: r.details.expiresAt === null ? 0 : Number(r.details.expiresAt) };
}

/** docs/PROTOCOL.md, udp "Extensions": this server's versions stay below 2^53, so a number holds them exactly. */
function replyVersion(r: UdpResult): number {
  const v = r.details.version;
  if (v === null) throw new KvError('SERVER', `the server's ${STATUS_NAMES[r.status] ?? r.status} reply carries no VERSION; is it older than compare-and-set over UDP?`);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new KvError('SERVER', `the server sent VERSION ${v}, beyond 2^53: this client cannot hold it exactly`);
  return Number(v);
}

/** OK: applied, with the new version; CONFLICT: not, with the current one. */
export function casResult(r: UdpResult): CasResult {
  if (r.status !== Status.OK && r.status !== Status.CONFLICT) throw replyError(r.status, r.value);
  return { applied: r.status === Status.OK, version: replyVersion(r) };
}
