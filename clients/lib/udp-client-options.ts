import { DEFAULT_PORT } from '../../src/config.js';
import type { ReplyDetails } from '../../src/protocol/datagram-extensions.js';

/** Options, defaults, events and results of UdpClient (clients/lib/udp-client.ts). */

export const DEFAULT_HOST = '127.0.0.1';
export { DEFAULT_PORT };

/**
 * Retry timing, CoAP-style (RFC 7252 §4.2), with defaults sized for a LAN. The
 * first wait is drawn from [timeoutMs, timeoutMs × randomFactor]; each retry
 * waits `backoffFactor` times longer than the one before, up to maxTimeoutMs.
 * With the defaults a request gives up after at most
 * 200 × 1.5 × (1 + 2 + 4 + 8 + 16) = 9.3 s, well inside the server's 60 s reply
 * cache window, which must cover the whole retry span for retries to be safe.
 */
export const DEFAULT_RETRY = {
  timeoutMs: 200,
  retries: 4,
  backoffFactor: 2,
  randomFactor: 1.5,
  maxTimeoutMs: 10_000,
} as const;
export const DEFAULT_MAX_DATAGRAM_SIZE = 1400;
/** Requests on the wire at once; more wait their turn in a queue. */
export const DEFAULT_MAX_IN_FLIGHT = 1024;

export interface UdpClientOptions {
  readonly host?: string;
  readonly port?: number;
  /**
   * Several servers (gateways) instead of host and port, for one socket: a request
   * goes to the first (or, with `spread`, the next in turn), and a retry after a
   * timeout to the next, with the same request ID (README "kv-udp", several servers).
   */
  readonly servers?: ReadonlyArray<{ readonly host: string; readonly port: number }>;
  /** Start each request at the next server in turn (round robin). */
  readonly spread?: boolean;
  /** How long a server that let a request time out is passed over as a first choice, in ms (default 2000). */
  readonly cooldownMs?: number;
  /**
   * A UDP key (docs/PROTOCOL.md "Authenticated datagrams"): every request is signed
   * with it, and a reply that ran anything counts only if the server signed it too.
   */
  readonly udpKey?: { readonly id: number; readonly key: Uint8Array };
  /** The first wait for a reply, in ms (CoAP's ACK_TIMEOUT). */
  readonly timeoutMs?: number;
  /** Resends after the first send (CoAP's MAX_RETRANSMIT). */
  readonly retries?: number;
  readonly backoffFactor?: number;
  /** The first wait is uniform in [timeoutMs, timeoutMs × randomFactor] (CoAP's ACK_RANDOM_FACTOR), so clients that lost replies together do not retry together. */
  readonly randomFactor?: number;
  readonly maxTimeoutMs?: number;
  /** Largest datagram sent; must not be over the server's --max-datagram-size. */
  readonly maxDatagramSize?: number;
  readonly maxInFlight?: number;
  /** Source of randomness for the backoff jitter (tests pass a seeded one). Defaults to Math.random. */
  readonly random?: () => number;
  /** The first request ID; random (from the OS) unless given. */
  readonly initialId?: number;
  /** Called for every send, retry and ignored reply: what --verbose prints. */
  readonly onEvent?: (event: UdpClientEvent) => void;
  /**
   * Fail every request at once (CONNECTION) when the OS reports ICMP port
   * unreachable, instead of retrying: right for a one-shot CLI, as TCP's
   * "connection refused" is. Off by default, since a server that is restarting
   * would answer a later retry.
   */
  readonly failOnUnreachable?: boolean;
}

export type UdpClientEvent =
  /** A datagram left: attempt 1 is the first send, later ones are retries. */
  | { readonly type: 'send'; readonly id: number; readonly op: string; readonly attempt: number; readonly waitMs: number; readonly reason?: 'timeout' | 'refused' | 'new-id'; readonly server?: string | undefined }
  /** The server refused our datagram (e.g. BAD_CHECKSUM: it was damaged on the way). */
  | { readonly type: 'refused'; readonly id: number; readonly status: string; readonly message: string }
  /** A datagram that is not a valid reply (damaged, truncated, ...): ignored. */
  | { readonly type: 'bad-reply'; readonly reason: string; readonly message: string; readonly size: number }
  /** A valid reply for no request in flight: `late` when its request was already answered or given up. */
  | { readonly type: 'unknown-reply'; readonly id: number; readonly late: boolean }
  /** The OS reported ICMP port unreachable for the server's address. */
  | { readonly type: 'unreachable' }
  /** The answer to a request arrived. */
  | { readonly type: 'reply'; readonly id: number; readonly status: string; readonly attempts: number; readonly elapsedMs: number; readonly server?: string | undefined };

/** The outcome of one request: the reply's status and value, and what it took. */
export interface UdpResult {
  readonly id: number;
  readonly status: number;
  /** The reply's value bytes (a view into the received datagram). */
  readonly value: Buffer;
  /** The reply's VERSION and EXPIRES_AT extensions, when it carries them. */
  readonly details: ReplyDetails;
  readonly attempts: number;
  readonly elapsedMs: number;
  /** With several servers: the one that answered, as host:port. */
  readonly server?: string;
}

/** What a PUT does to the key's expiry: by default it clears it. */
export interface ExpiryOptions {
  /** The key expires this many milliseconds after the server stores it. */
  readonly ttlMs?: number | bigint;
  /** Keep the key's current expiry. Not with ttlMs. */
  readonly keepTtl?: boolean;
}

/** A value with its version (docs/PROTOCOL.md, udp "Extensions"). */
export interface VersionedValue {
  readonly value: Buffer;
  readonly version: number;
  /** When the key expires, in ms since the epoch; 0: it does not. */
  readonly expiresAt: number;
}

/** The answer to a compare-and-set: applied with the key's new version, or not with its current one (0: absent). */
export interface CasResult {
  readonly applied: boolean;
  readonly version: number;
}

/** Checks for the numeric options: a bad value is a programming error, thrown at once. */
export function positive(name: string, v: number): number {
  if (!(Number.isFinite(v) && v > 0)) throw new RangeError(`${name} must be a positive number; got ${v}`);
  return v;
}

export function whole(name: string, v: number): number {
  if (!(Number.isInteger(v) && v >= 0)) throw new RangeError(`${name} must be a whole number; got ${v}`);
  return v;
}

export function atLeast(name: string, v: number, min: number): number {
  if (!(Number.isFinite(v) && v >= min)) throw new RangeError(`${name} must be at least ${min}; got ${v}`);
  return v;
}
