import type { ErrorCode } from '../errors.js';
import type { ByteString } from '../store/bytes.js';
import { MIN_DATAGRAM_SIZE, Status, statusOf } from './datagram.js';
import { replyExtensions, type Extension } from './datagram-extensions.js';
import type { OpcodeSpec } from './datagram-opcodes.js';
import { renderInfo } from './info-text.js';
import type { Reply } from './reply.js';

/**
 * Turns a command's Reply into a datagram's status and value (docs/PROTOCOL.md,
 * udp "Opcodes" and "Status codes"). Pure, like the other codecs.
 */

export interface ReplyBody {
  readonly status: Status;
  readonly value: ByteString;
  /** VERSION and EXPIRES_AT (docs/PROTOCOL.md, udp "Extensions"); they count in the reply's size. */
  readonly extensions?: readonly Extension[];
}

const OK_EMPTY: ReplyBody = { status: Status.OK, value: '' };
const NOT_FOUND: ReplyBody = { status: Status.NOT_FOUND, value: '' };

/**
 * The status for an error code, and the `CODE message` text every error reply carries
 * (cut to the request's size when it is encoded: encodeErrorReply).
 */
export function errorBody(code: ErrorCode, message: string): ReplyBody {
  return { status: statusOf(code), value: `${code} ${message}` };
}

/** A reply as its opcode reads it (`int`: the opcode table's, src/protocol/datagram-opcodes.ts). */
export function replyBody(reply: Reply, int: OpcodeSpec['int'] = 'text'): ReplyBody {
  switch (reply.t) {
    case 'ok':
      return OK_EMPTY;
    case 'status':
      return { status: Status.OK, value: reply.s };
    case 'bulk':
      return { status: Status.OK, value: reply.v };
    case 'nil':
      return NOT_FOUND;
    case 'int':
      if (int === 'found') return reply.n === 0 ? NOT_FOUND : OK_EMPTY;
      return { status: Status.OK, value: String(reply.n) };
    case 'deleted':
      // DEL answers the number of keys it removed: none means the key was not there.
      return reply.n === 0 ? NOT_FOUND : OK_EMPTY;
    case 'versioned':
      return { status: Status.OK, value: reply.v, extensions: replyExtensions(reply.version, reply.expiresAt) };
    case 'stats':
      return { status: Status.OK, value: renderInfo(reply.sections) };
    case 'goodbye':
      return OK_EMPTY;
    case 'stored':
      return { status: Status.OK, value: '', extensions: replyExtensions(reply.version) };
    case 'cas':
      // docs/PROTOCOL.md, udp "Status codes": CONFLICT ran and changed nothing; either way VERSION is the key's version now.
      return { status: reply.applied ? Status.OK : Status.CONFLICT, value: '', extensions: replyExtensions(reply.version) };
    case 'error':
      return errorBody(reply.err.code, reply.err.message);
    case 'array':
    case 'map':
    case 'keys':
    case 'exec':
      return errorBody('SERVER', 'the command answered with an array, which a datagram cannot carry; use TCP');
  }
}

/**
 * docs/PROTOCOL.md, udp "Limits" (STATS): a statistics text that does not fit in one
 * datagram keeps the leading whole sections that fit, and ends with a line
 * `# Omitted: name,name` naming the others, which the client asks for one by one.
 * Returns null when not even the notice fits.
 */
export function fitStats(text: string, maxDatagramSize: number): string | null {
  const room = maxDatagramSize - MIN_DATAGRAM_SIZE;
  if (text.length <= room) return text;
  // Sections are `# Name\r\n` then `key:value\r\n` lines, separated by an empty line.
  const sections = text.split(/\r\n(?=# )/);
  const names = sections.map(sectionName);
  const notice = (from: number) => `# Omitted: ${names.slice(from).join(',')}\r\n`;
  let keep = 0;
  let used = 0;
  while (keep < sections.length) {
    const next = used + (keep > 0 ? 2 : 0) + (sections[keep] as string).length;
    if (next + 2 + notice(keep + 1).length > room) break;
    used = next;
    keep++;
  }
  if (keep === sections.length) return text;
  const out = keep > 0 ? `${sections.slice(0, keep).join('\r\n')}\r\n${notice(keep)}` : notice(0);
  return out.length <= room ? out : null;
}

function sectionName(section: string): string {
  const m = /^# (\S+)/.exec(section);
  return m ? (m[1] as string).toLowerCase() : '';
}
