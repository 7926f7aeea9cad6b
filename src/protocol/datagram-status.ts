import { ErrorCodes, type ErrorCode } from '../errors.js';
import type { RejectReason } from './datagram-error.js';

/**
 * The datagram's status byte (docs/PROTOCOL.md, udp "Status codes"): what each value
 * means, which one an error code of the registry (src/errors.ts) gets, and which error
 * reply each refusal of the codec gets.
 */

export const Status = {
  // 0x0_: the request ran.
  OK: 0x00,
  NOT_FOUND: 0x01,
  /** Its condition (IF_VERSION) failed, so nothing changed; the reply's VERSION is the key's current one. */
  CONFLICT: 0x02,
  // 0x1_: the datagram was refused before any command ran. Nothing was applied.
  BAD_CHECKSUM: 0x10,
  MALFORMED: 0x11,
  BAD_VERSION: 0x12,
  UNKNOWN_OPCODE: 0x13,
  TOO_LARGE: 0x14,
  UNSUPPORTED: 0x15,
  ID_CONFLICT: 0x16,
  /** Not authenticated, or the user may not run this (docs/PROTOCOL.md "Authentication"); nothing ran. */
  UNAUTHORIZED: 0x17,
  // 0x2_: a well-formed request the command refused (key too large, ...), or could not run now.
  COMMAND_ERROR: 0x20,
  UNAVAILABLE: 0x21,
  // 0x3_: the server failed.
  SERVER_ERROR: 0x30,
} as const;
export type Status = (typeof Status)[keyof typeof Status];

export const STATUS_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(Status).map(([name, code]) => [code, name]),
);

/** The status an error code gets in a datagram: its entry in the error registry (src/errors.ts). */
export function statusOf(code: ErrorCode): Status {
  return Status[ErrorCodes[code].udp];
}

/** The error reply a refusal gets: the code its text starts with, and its status. */
export interface Refusal {
  readonly code: ErrorCode;
  readonly status: Status;
}

/**
 * A refusal's status is its code's (src/errors.ts), unless the protocol names a
 * finer one that tells the client what to do (resend at once, speak another version, ...).
 */
function refusal(code: ErrorCode, status: Status = statusOf(code)): Refusal {
  return { code, status };
}

/**
 * The error reply each refusal gets, or null for none: a datagram without our
 * magic is not ours to answer, and a reply is never answered, so two peers
 * cannot bounce errors between them forever.
 */
export const REFUSALS: Readonly<Record<RejectReason, Refusal | null>> = {
  truncated: refusal('BAD_DATAGRAM'),
  trailing: refusal('BAD_DATAGRAM'),
  oversize: refusal('DATAGRAM_TOO_LARGE'),
  bad_magic: null,
  bad_checksum: refusal('BAD_DATAGRAM', Status.BAD_CHECKSUM),
  bad_version: refusal('BAD_DATAGRAM', Status.BAD_VERSION),
  bad_header: refusal('BAD_DATAGRAM'),
  wrong_direction: null,
  unknown_opcode: refusal('BAD_DATAGRAM', Status.UNKNOWN_OPCODE),
  bad_extension: refusal('BAD_DATAGRAM'),
  unsupported_extension: refusal('BAD_DATAGRAM', Status.UNSUPPORTED),
  bad_arguments: refusal('BAD_DATAGRAM'),
  protected_mode: refusal('DENIED'),
  unauthenticated: refusal('NO_AUTH'),
  unknown_key: refusal('WRONG_PASS'),
  bad_mac: refusal('WRONG_PASS'),
  bad_timestamp: refusal('NO_AUTH'),
  replayed: refusal('NO_AUTH'),
  too_many_senders: refusal('NO_AUTH'),
};

/** True for 0x1_ statuses: the server refused the datagram itself, so the request was not applied. */
export function isRefusedStatus(status: number): boolean {
  return status >= 0x10 && status <= 0x1f;
}

/** True for statuses 0x10 and up: the reply's value is `CODE message` text (docs/PROTOCOL.md, udp "Status codes"). */
export function isErrorStatus(status: number): boolean {
  return status >= 0x10;
}
