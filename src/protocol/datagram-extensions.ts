import { DatagramError, RejectReason, type PartialHeader } from './datagram-error.js';

/**
 * The extension types of datagram version 1 (docs/PROTOCOL.md, udp "Extensions"):
 * what each one's data is, and how a request's or a reply's list is read into
 * plain fields. Requests and replies number their types apart. Pure, like the
 * rest of the codec.
 */

/** An extension: type, then up to 255 bytes. Types with the high bit set are critical. */
export interface Extension {
  readonly type: number;
  readonly data: Uint8Array;
}

/** Bit 7 of a type: a receiver that does not know it must refuse the datagram (UNSUPPORTED). */
export const CRITICAL_EXTENSION = 0x80;

export const RequestExtension = {
  /** Elective, no data. On GET: answer the key's version (and expiry) as well as its value. */
  WANT_VERSION: 0x01,
  /** 8 bytes, u64 milliseconds from now. PUT: the new value's time to live; EXPIRE: the key's. */
  TTL: 0x81,
  /** 8 bytes, u64 version. PUT, DEL: only if the key's version is still this one; 0: only if it is absent. */
  IF_VERSION: 0x82,
  /** No data. PUT: keep the key's current expiry instead of clearing it. */
  KEEPTTL: 0x83,
  /**
   * 38 bytes, on every opcode (docs/PROTOCOL.md "Authenticated datagrams"): key id u16,
   * sender u32, timestamp u64 ms, sequence u64, then the 16-byte MAC. Critical: a server
   * that cannot check it must not run the request as if it were not there.
   */
  AUTH: 0x84,
} as const;
export type RequestExtension = (typeof RequestExtension)[keyof typeof RequestExtension];

export const ReplyExtension = {
  /** Elective, 8 bytes, u64: the key's version (0: absent). */
  VERSION: 0x01,
  /** Elective, 8 bytes, u64 milliseconds since the Unix epoch: when the key expires; absent when it does not. */
  EXPIRES_AT: 0x02,
  /** 26 bytes, in every reply to an authenticated request that passed the checks: key id u16, the request's sequence u64, the MAC. */
  AUTH: 0x03,
} as const;
export type ReplyExtension = (typeof ReplyExtension)[keyof typeof ReplyExtension];

const U64_SIZE = 8;
/** Truncated HMAC-SHA256 (RFC 2104; truncation as RFC 4868 allows, to half the hash). */
export const MAC_SIZE = 16;
/** AUTH's data in a request: key id (2), sender (4), timestamp (8), sequence (8), MAC. */
export const REQUEST_AUTH_SIZE = 2 + 4 + 8 + 8 + MAC_SIZE;
/** AUTH's data in a reply: key id (2), sequence (8), MAC. */
export const REPLY_AUTH_SIZE = 2 + 8 + MAC_SIZE;
const MAX_U64 = (1n << 64n) - 1n;

/** Data size of each known type, by direction. */
const REQUEST_DATA_SIZE: ReadonlyMap<number, number> = new Map([
  [RequestExtension.WANT_VERSION, 0],
  [RequestExtension.TTL, U64_SIZE],
  [RequestExtension.IF_VERSION, U64_SIZE],
  [RequestExtension.KEEPTTL, 0],
  [RequestExtension.AUTH, REQUEST_AUTH_SIZE],
]);
const REPLY_DATA_SIZE: ReadonlyMap<number, number> = new Map([
  [ReplyExtension.VERSION, U64_SIZE],
  [ReplyExtension.EXPIRES_AT, U64_SIZE],
  [ReplyExtension.AUTH, REPLY_AUTH_SIZE],
]);

export const REQUEST_EXTENSION_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(RequestExtension).map(([name, type]) => [type, name]),
);

/** A request's extensions as fields. u64s stay bigints: the command, not the codec, judges their range. */
export interface RequestOptions {
  readonly ttlMs: bigint | null;
  readonly ifVersion: bigint | null;
  readonly keepTtl: boolean;
  readonly wantVersion: boolean;
  /** The AUTH extension, or null: the datagram is not authenticated. */
  readonly auth: RequestAuth | null;
}

/** A request's AUTH extension. `mac` views the datagram, so the verifier knows where it sits. */
export interface RequestAuth {
  readonly keyId: number;
  /** The client's random id for its sequence numbers (docs/PROTOCOL.md "Authenticated datagrams": the replay window is per key and sender). */
  readonly sender: number;
  /** Milliseconds since the Unix epoch, as the client's clock had it; past 2^53 taken as the double holds it. */
  readonly timestamp: number;
  readonly sequence: bigint;
  readonly mac: Uint8Array;
}

/** A reply's AUTH extension. */
export interface ReplyAuth {
  readonly keyId: number;
  readonly sequence: bigint;
  readonly mac: Uint8Array;
}

export const NO_OPTIONS: RequestOptions = Object.freeze({ ttlMs: null, ifVersion: null, keepTtl: false, wantVersion: false, auth: null });

/** A reply's extensions as fields. */
export interface ReplyDetails {
  readonly version: bigint | null;
  readonly expiresAt: bigint | null;
  readonly auth: ReplyAuth | null;
}

export const NO_DETAILS: ReplyDetails = Object.freeze({ version: null, expiresAt: null, auth: null });

/** What a client asks for; a u64 may be a number (a safe integer) or a bigint. */
export interface RequestOptionsInput {
  readonly ttlMs?: number | bigint;
  readonly ifVersion?: number | bigint;
  readonly keepTtl?: boolean;
  readonly wantVersion?: boolean;
}

const hex = (type: number) => `0x${type.toString(16).padStart(2, '0')}`;

function fail(reason: RejectReason, message: string, header: PartialHeader): never {
  throw new DatagramError(reason, message, header);
}

/** 8 bytes, big-endian. A number must be a whole one; past 2^53 it is taken as the double holds it. */
export function u64Data(name: string, n: number | bigint): Uint8Array {
  const v = typeof n === 'bigint' ? n : Number.isInteger(n) ? BigInt(n) : -1n;
  if (v < 0n || v > MAX_U64) throw new RangeError(`${name} must be a whole number from 0 to 2^64-1; got ${String(n)}`);
  const b = Buffer.allocUnsafe(U64_SIZE);
  b.writeBigUInt64BE(v);
  return b;
}

/** True when u64Data would take `n`: a whole number (or bigint) from 0 to 2^64-1. */
export function isU64(n: number | bigint): boolean {
  return typeof n === 'bigint' ? n >= 0n && n <= MAX_U64 : Number.isInteger(n) && n >= 0 && n < 2 ** 64;
}

/** Writes what u64Data would make, at `off`, without a buffer of its own; `n` must pass isU64. */
export function writeU64(buf: Buffer, off: number, n: number | bigint): void {
  if (typeof n === 'bigint') {
    buf.writeBigUInt64BE(n, off);
    return;
  }
  // A whole double below 2^64 splits exactly into its high and low 32 bits.
  const high = Math.floor(n / 2 ** 32);
  buf.writeUInt32BE(high, off);
  buf.writeUInt32BE(n - high * 2 ** 32, off + 4);
}

function view(data: Uint8Array): Buffer {
  // The decoder's extension data is already a Buffer (a view into the datagram).
  return data instanceof Buffer ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

function readU64(data: Uint8Array): bigint {
  return view(data).readBigUInt64BE(0);
}

function readRequestAuth(data: Uint8Array): RequestAuth {
  const b = view(data);
  return {
    keyId: b.readUInt16BE(0),
    sender: b.readUInt32BE(2),
    timestamp: b.readUInt32BE(6) * 2 ** 32 + b.readUInt32BE(10),
    sequence: b.readBigUInt64BE(14),
    mac: data.subarray(22, 22 + MAC_SIZE),
  };
}

function readReplyAuth(data: Uint8Array): ReplyAuth {
  const b = view(data);
  return { keyId: b.readUInt16BE(0), sequence: b.readBigUInt64BE(2), mac: data.subarray(10, 10 + MAC_SIZE) };
}

/** The fields of a request's AUTH, before its MAC is made. */
export interface RequestAuthInput {
  readonly keyId: number;
  readonly sender: number;
  readonly timestamp: number;
  readonly sequence: bigint | number;
}

/** A request's AUTH extension with its MAC zeroed, for signDatagram (datagram-auth.ts) to fill. */
export function requestAuthExtension(a: RequestAuthInput): Extension {
  const b = Buffer.alloc(REQUEST_AUTH_SIZE);
  b.writeUInt16BE(a.keyId, 0);
  b.writeUInt32BE(a.sender >>> 0, 2);
  b.set(u64Data('timestamp', a.timestamp), 6);
  b.set(u64Data('sequence', a.sequence), 14);
  return { type: RequestExtension.AUTH, data: b };
}

/** A reply's AUTH extension with its MAC zeroed. */
export function replyAuthExtension(keyId: number, sequence: bigint): Extension {
  const b = Buffer.alloc(REPLY_AUTH_SIZE);
  b.writeUInt16BE(keyId, 0);
  b.writeBigUInt64BE(sequence, 2);
  return { type: ReplyExtension.AUTH, data: b };
}

/** The extensions that carry `o`, in type order. */
export function requestExtensions(o: RequestOptionsInput): Extension[] {
  const out: Extension[] = [];
  if (o.wantVersion) out.push({ type: RequestExtension.WANT_VERSION, data: new Uint8Array(0) });
  if (o.ttlMs !== undefined) out.push({ type: RequestExtension.TTL, data: u64Data('ttlMs', o.ttlMs) });
  if (o.ifVersion !== undefined) out.push({ type: RequestExtension.IF_VERSION, data: u64Data('ifVersion', o.ifVersion) });
  if (o.keepTtl) out.push({ type: RequestExtension.KEEPTTL, data: new Uint8Array(0) });
  return out;
}

/** A reply's VERSION, and EXPIRES_AT when the key expires (`expiresAt` 0: it does not). */
export function replyExtensions(version: number, expiresAt = 0): Extension[] {
  const out: Extension[] = [{ type: ReplyExtension.VERSION, data: u64Data('version', version) }];
  if (expiresAt !== 0) out.push({ type: ReplyExtension.EXPIRES_AT, data: u64Data('expiresAt', expiresAt) });
  return out;
}

/**
 * Checks 10 and 11 of docs/PROTOCOL.md, udp "Checks", on a list whose framing
 * already parsed: a known type with the wrong data size, or twice, is
 * `bad_extension`; then an unknown critical type is `unsupported_extension`.
 * Every extension is checked for the first before any for the second.
 */
function checkList(exts: readonly Extension[], sizes: ReadonlyMap<number, number>, header: PartialHeader): void {
  const seen = new Set<number>();
  for (const e of exts) {
    const size = sizes.get(e.type);
    if (size === undefined) continue;
    if (e.data.length !== size) fail(RejectReason.BAD_EXTENSION, `extension ${hex(e.type)} carries ${e.data.length} bytes; it takes ${size}`, header);
    if (seen.has(e.type)) fail(RejectReason.BAD_EXTENSION, `extension ${hex(e.type)} appears twice`, header);
    seen.add(e.type);
  }
  for (const e of exts) {
    if (e.type & CRITICAL_EXTENSION && !sizes.has(e.type)) {
      fail(RejectReason.UNSUPPORTED_EXTENSION, `critical extension ${hex(e.type)} is not known to this side; send the request without it`, header);
    }
  }
}

/**
 * A request's extensions as fields, for an opcode that takes `accepted`. A known
 * critical type the opcode does not take is refused as `unsupported_extension`
 * (it cannot be honoured there); a known elective one is skipped, as an unknown
 * one is, so that a later version may give it more opcodes. KEEPTTL beside TTL
 * contradicts itself: `bad_arguments`.
 */
export function readRequestOptions(exts: readonly Extension[], accepted: readonly number[], opName: string, header: PartialHeader): RequestOptions {
  // Hot path: a signed request with no other extension (every opcode takes AUTH) passes every check.
  const only = exts.length === 1 ? (exts[0] as Extension) : null;
  if (only !== null && only.type === RequestExtension.AUTH && only.data.length === REQUEST_AUTH_SIZE) {
    return { ttlMs: null, ifVersion: null, keepTtl: false, wantVersion: false, auth: readRequestAuth(only.data) };
  }
  checkList(exts, REQUEST_DATA_SIZE, header);
  let ttlMs: bigint | null = null;
  let ifVersion: bigint | null = null;
  let keepTtl = false;
  let wantVersion = false;
  let auth: RequestAuth | null = null;
  for (const e of exts) {
    if (!REQUEST_DATA_SIZE.has(e.type)) continue;
    // AUTH is about the datagram, not the command: every opcode takes it.
    if (e.type === RequestExtension.AUTH) {
      auth = readRequestAuth(e.data);
      continue;
    }
    if (!accepted.includes(e.type)) {
      if (e.type & CRITICAL_EXTENSION) {
        fail(RejectReason.UNSUPPORTED_EXTENSION, `extension ${REQUEST_EXTENSION_NAMES[e.type]} (${hex(e.type)}) is not supported on ${opName}`, header);
      }
      continue;
    }
    switch (e.type) {
      case RequestExtension.WANT_VERSION:
        wantVersion = true;
        break;
      case RequestExtension.TTL:
        ttlMs = readU64(e.data);
        break;
      case RequestExtension.IF_VERSION:
        ifVersion = readU64(e.data);
        break;
      case RequestExtension.KEEPTTL:
        keepTtl = true;
        break;
    }
  }
  if (keepTtl && ttlMs !== null) fail(RejectReason.BAD_ARGUMENTS, `${opName} takes TTL or KEEPTTL, not both`, header);
  return { ttlMs, ifVersion, keepTtl, wantVersion, auth };
}

/** A reply's extensions as fields (the same checks 10 and 11, on the reply's types). */
export function readReplyDetails(exts: readonly Extension[], header: PartialHeader): ReplyDetails {
  // Hot path: a signed reply with no other extension passes every check.
  const only = exts.length === 1 ? (exts[0] as Extension) : null;
  if (only !== null && only.type === ReplyExtension.AUTH && only.data.length === REPLY_AUTH_SIZE) {
    return { version: null, expiresAt: null, auth: readReplyAuth(only.data) };
  }
  checkList(exts, REPLY_DATA_SIZE, header);
  let version: bigint | null = null;
  let expiresAt: bigint | null = null;
  let auth: ReplyAuth | null = null;
  for (const e of exts) {
    if (e.type === ReplyExtension.VERSION) version = readU64(e.data);
    else if (e.type === ReplyExtension.EXPIRES_AT) expiresAt = readU64(e.data);
    else if (e.type === ReplyExtension.AUTH) auth = readReplyAuth(e.data);
  }
  return { version, expiresAt, auth };
}
