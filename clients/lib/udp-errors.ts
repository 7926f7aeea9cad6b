import { ErrorCodes, KvError, type ErrorCode } from '../../src/errors.js';
import { isRefusedStatus, Status, STATUS_NAMES } from '../../src/protocol/datagram.js';

/**
 * No reply came back: every attempt (the first send and each retry) timed out.
 * `attempts` and `elapsedMs` say how hard the client tried.
 */
export class TimeoutError extends KvError {
  constructor(
    message: string,
    /** Datagrams sent for this request, the first one included. */
    readonly attempts: number,
    /** Milliseconds from the first send to giving up. */
    readonly elapsedMs: number,
    /** True when the OS reported ICMP port unreachable: nothing listens on that port. */
    readonly refused: boolean,
    /** The last refusal the server sent for this request (e.g. BAD_CHECKSUM), if any. */
    readonly lastRefusal: string | undefined,
  ) {
    super('TIMEOUT', message);
    this.name = 'TimeoutError';
  }
}

/** The server answered with an error status. `code` comes from the reply's text, else from the status. */
export class UdpReplyError extends KvError {
  constructor(
    code: ErrorCode,
    message: string,
    /** The datagram status byte (docs/PROTOCOL.md, udp "Status codes"). */
    readonly status: number,
  ) {
    super(code, message);
    this.name = 'UdpReplyError';
  }
}

function codeForStatus(status: number): ErrorCode {
  switch (status) {
    case Status.TOO_LARGE:
      return 'DATAGRAM_TOO_LARGE';
    case Status.ID_CONFLICT:
      return 'ID_CONFLICT';
    case Status.UNKNOWN_OPCODE:
      return 'UNKNOWN_COMMAND';
    case Status.UNAVAILABLE:
      return 'READ_ONLY';
    case Status.UNAUTHORIZED:
      return 'NO_AUTH';
    case Status.COMMAND_ERROR:
      return 'SYNTAX';
    default:
      return isRefusedStatus(status) ? 'BAD_DATAGRAM' : 'SERVER';
  }
}

/**
 * What to do about each error status (docs/PROTOCOL.md, udp "Status codes"), said
 * when the server's text was cut too short to carry its code.
 */
const STATUS_ADVICE: Readonly<Record<number, string>> = {
  [Status.BAD_CHECKSUM]: 'the request was damaged on the way; resend it',
  [Status.MALFORMED]: 'the datagram is not well-formed',
  [Status.BAD_VERSION]: 'the server does not speak this protocol version',
  [Status.UNKNOWN_OPCODE]: 'the server does not know the opcode',
  [Status.TOO_LARGE]: 'the request or its reply is too large for a datagram to this client; use TCP (kv-tcp)',
  [Status.UNSUPPORTED]: 'the request has a critical extension the server does not know, or does not take on this opcode',
  [Status.ID_CONFLICT]: 'the request ID was used for a different request; resend with a new ID',
  [Status.UNAUTHORIZED]: 'the server requires signed datagrams, or refused this one or its key; give a UDP key (--udp-key-file or KV_UDP_KEY) for a user allowed this command',
  [Status.COMMAND_ERROR]: 'the command refused the request',
  [Status.UNAVAILABLE]: 'the server cannot write now; try again later',
  [Status.SERVER_ERROR]: 'the server failed; see its log',
};

/**
 * The error for a reply with an error status. Error replies carry `CODE message`,
 * cut short when the request was small, since an error reply is never larger than
 * its request; cut before the code is complete, the status says what to do.
 */
export function replyError(status: number, text: Buffer): UdpReplyError {
  const s = text.toString('utf8');
  const space = s.indexOf(' ');
  const word = space < 0 ? s : s.slice(0, space);
  const known = Object.hasOwn(ErrorCodes, word);
  const code = known ? (word as ErrorCode) : codeForStatus(status);
  const name = STATUS_NAMES[status] ?? `status 0x${status.toString(16)}`;
  if (known) {
    const detail = s.slice(word.length + 1);
    return new UdpReplyError(code, detail ? `${name}: ${detail}` : `the server answered ${name}`, status);
  }
  const advice = STATUS_ADVICE[status];
  const message = advice === undefined ? (s ? `${name}: ${s}` : `the server answered ${name}`) : `${name}: ${advice}${s ? ` (the server said "${s}")` : ''}`;
  return new UdpReplyError(code, message, status);
}
