import { KvError } from '../../src/errors.js';

/**
 * One RESP2 reply as the client sees it:
 * - `+OK` (simple string)  -> string
 * - `-ERR ...` (error)     -> ServerReplyError (a value here; the client rejects with it)
 * - `:42` (integer)        -> number, or bigint when it does not fit a double exactly
 * - `$3 abc` (bulk string) -> Buffer (binary-safe)
 * - `$-1` / `*-1` (null)   -> null
 * - `*2 ...` (array)       -> RespValue[]
 */
export type RespValue = string | number | bigint | Buffer | null | ServerReplyError | RespValue[];

/**
 * An error reply from the server. Its `code` is always SERVER; `prefix` is the
 * first word of the line, Redis's error kind (`ERR`, `MISCONF`, `WRONGTYPE`), and
 * `message` the whole line, as ioredis and redis-cli show it.
 */
export class ServerReplyError extends KvError {
  readonly prefix: string;

  constructor(line: string) {
    super('SERVER', line);
    this.name = 'ServerReplyError';
    const sp = line.indexOf(' ');
    this.prefix = sp < 0 ? line : line.slice(0, sp);
  }

  override get respPrefix(): string {
    return this.prefix;
  }
}

/** A reply of a shape the command cannot have (e.g. an integer to GET): the server or the stream is not what we think. */
export function unexpectedReply(command: string, reply: RespValue): KvError {
  return new KvError('PROTOCOL', `unexpected reply to ${command}: ${describeReply(reply)}; is this a dualkv or Redis server?`);
}

function describeReply(v: RespValue): string {
  if (v === null) return 'nil';
  if (Buffer.isBuffer(v)) return `bulk string of ${v.length} bytes`;
  if (Array.isArray(v)) return `array of ${v.length}`;
  if (v instanceof ServerReplyError) return `error ${JSON.stringify(v.message.slice(0, 80))}`;
  if (typeof v === 'string') return `status ${JSON.stringify(v.slice(0, 80))}`;
  return `integer ${String(v)}`;
}
