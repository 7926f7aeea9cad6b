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
    case Status.COMMAND_ERROR:
      return 'SYNTAX';
    default:
      return isRefusedStatus(status) ? 'BAD_DATAGRAM' : 'SERVER';
  }
}

/**
 * The error for a reply with an error status. Error replies carry `CODE message`
 * (cut short when the request was small, since a reply is never larger than it).
 */
export function replyError(status: number, text: Buffer): UdpReplyError {
  const s = text.toString('utf8');
  const space = s.indexOf(' ');
  const word = space < 0 ? s : s.slice(0, space);
  const known = Object.hasOwn(ErrorCodes, word);
  const code = known ? (word as ErrorCode) : codeForStatus(status);
  const detail = known ? s.slice(word.length + 1) : s;
  const name = STATUS_NAMES[status] ?? `status 0x${status.toString(16)}`;
  return new UdpReplyError(code, detail ? `${name}: ${detail}` : `the server answered ${name}`, status);
}
