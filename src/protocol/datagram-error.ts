import { KvError } from '../errors.js';

/**
 * Why a datagram was refused (docs/PROTOCOL.md, udp section, "Checks"). Each has a
 * STATS counter `udp_rejected_<reason>`.
 */
export const RejectReason = {
  /** Shorter than a header and a CRC, or its lengths promise more bytes than it has. */
  TRUNCATED: 'truncated',
  /** Bytes left over after the lengths in the header are used up. */
  TRAILING: 'trailing',
  /** Larger than the configured maximum datagram size. */
  OVERSIZE: 'oversize',
  /** The first two bytes are not "DK": not this protocol; never answered. */
  BAD_MAGIC: 'bad_magic',
  /** The CRC-32 trailer does not match the bytes before it. */
  BAD_CHECKSUM: 'bad_checksum',
  BAD_VERSION: 'bad_version',
  /** Reserved flag bits set, or a status byte in a request. */
  BAD_HEADER: 'bad_header',
  /** A reply where a request was expected (or the other way round); never answered, so two peers cannot loop. */
  WRONG_DIRECTION: 'wrong_direction',
  UNKNOWN_OPCODE: 'unknown_opcode',
  /** The extension list does not parse. */
  BAD_EXTENSION: 'bad_extension',
  /** A critical extension the receiver does not know (a later feature it cannot honour). */
  UNSUPPORTED_EXTENSION: 'unsupported_extension',
  /** A key or value where the opcode takes none (e.g. a value on GET). */
  BAD_ARGUMENTS: 'bad_arguments',
  // docs/PROTOCOL.md "Authenticated datagrams": decided by the front-end, after the codec's checks.
  /** Protected mode: no credentials are configured and the sender is not on loopback. */
  PROTECTED_MODE: 'protected_mode',
  /** Credentials are configured and the datagram carries no AUTH. */
  UNAUTHENTICATED: 'unauthenticated',
  /** AUTH names a key id no user has. */
  UNKNOWN_KEY: 'unknown_key',
  /** The MAC does not match the datagram under its key. */
  BAD_MAC: 'bad_mac',
  /** The timestamp is outside --udp-auth-window of the server's clock. */
  BAD_TIMESTAMP: 'bad_timestamp',
  /** The sequence number was seen already, or is older than the replay window (and no reply cache entry answers it). */
  REPLAYED: 'replayed',
  /** The replay windows are all in use by senders seen within the time window: a new sender must wait. */
  TOO_MANY_SENDERS: 'too_many_senders',
} as const;

export type RejectReason = (typeof RejectReason)[keyof typeof RejectReason];

export const REJECT_REASONS: readonly RejectReason[] = Object.values(RejectReason);

/** What could be read of a refused datagram's header, for an error reply. */
export interface PartialHeader {
  readonly id: number;
  readonly opcode: number;
}

/**
 * The datagram codec's own error: the bytes are not a datagram this side accepts.
 * `header` is set when the magic matched and the request ID could be read, so that
 * an error reply can carry the ID (the ID may itself be damaged: a client ignores
 * replies to IDs it has not sent).
 */
export class DatagramError extends KvError {
  readonly reason: RejectReason;
  readonly header: PartialHeader | null;

  constructor(reason: RejectReason, message: string, header: PartialHeader | null = null) {
    // A refusal is an expected outcome, made at the rate datagrams arrive (a
    // flood included), and its stack says nothing: skip capturing one, which is
    // most of the cost of an Error.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super('BAD_DATAGRAM', message);
    Error.stackTraceLimit = limit;
    this.name = 'DatagramError';
    this.reason = reason;
    this.header = header;
  }
}
