import { ProtocolError } from '../../src/errors.js';
import { ServerReplyError, type RespValue } from './resp-reply.js';

/*
 * Why a hand-written decoder rather than a library: the one well-known choice,
 * redis-parser (ioredis's), was last published in 2017, is callback-and-options
 * JavaScript, and ships no types. This decoder is the hot path of the load
 * generator too, so it stays small enough to read in one sitting, copies each
 * bulk string once, takes the copy-free path whenever a whole line or value sits
 * in one chunk, and holds no I/O so the tests can feed it bytes split anywhere.
 */

/** Redis's ceiling on one bulk string (proto-max-bulk-len). A longer header is a framing error. */
export const RESP_MAX_BULK_BYTES = 512 * 1024 * 1024;
/** Most elements in one array reply; a larger header is a framing error. */
export const RESP_MAX_ARRAY_LENGTH = 2 ** 31 - 1;
/** Longest `+`, `-`, `:`, `$` or `*` line, without its CRLF. */
export const RESP_MAX_LINE_BYTES = 64 * 1024;
/** Deepest nesting of arrays; Redis replies nest two or three levels. */
export const RESP_MAX_DEPTH = 64;

const CR = 0x0d;
const LF = 0x0a;
const PLUS = 0x2b;
const MINUS = 0x2d;
const COLON = 0x3a;
const DOLLAR = 0x24;
const STAR = 0x2a;

const enum State {
  Type, // at the first byte of a reply
  Line, // reading the rest of the type's line, up to CRLF
  Bulk, // reading a bulk string's bytes
  BulkCr, // the CR after them
  BulkLf, // the LF after them
}

export interface RespDecoderLimits {
  readonly maxBulkBytes?: number;
  readonly maxLineBytes?: number;
}

/** An array reply still waiting for elements. */
interface Frame {
  readonly items: RespValue[];
  left: number;
}

/**
 * RESP2 reply decoder: a byte-level state machine with no I/O. Feed it chunks as
 * they arrive, split anywhere; it calls `onReply` once per complete top-level
 * reply, in order.
 *
 * Malformed bytes throw ProtocolError. The stream cannot be trusted after that,
 * so the decoder refuses further input and the connection must be closed.
 */
export class RespReplyDecoder {
  private state = State.Type;
  private type = 0;
  private lineParts: Buffer[] = [];
  private lineLen = 0;
  private bulkLen = 0;
  private bulkParts: Buffer[] = [];
  private bulkGot = 0;
  private readonly stack: Frame[] = [];
  private failed: ProtocolError | null = null;
  private readonly maxBulk: number;
  private readonly maxLine: number;

  constructor(
    private readonly onReply: (reply: RespValue) => void,
    limits: RespDecoderLimits = {},
  ) {
    this.maxBulk = limits.maxBulkBytes ?? RESP_MAX_BULK_BYTES;
    this.maxLine = limits.maxLineBytes ?? RESP_MAX_LINE_BYTES;
  }

  /** True between replies: no partial reply is buffered. */
  get idle(): boolean {
    return this.state === State.Type && this.stack.length === 0;
  }

  feed(chunk: Buffer): void {
    if (this.failed) throw this.failed;
    try {
      this.run(chunk);
    } catch (err) {
      if (err instanceof ProtocolError) this.failed = err;
      throw err;
    }
  }

  private run(chunk: Buffer): void {
    let off = 0;
    const n = chunk.length;
    while (off < n) {
      switch (this.state) {
        case State.Type: {
          const t = chunk[off] as number;
          if (t !== PLUS && t !== MINUS && t !== COLON && t !== DOLLAR && t !== STAR) {
            throw new ProtocolError(`Protocol error: a reply cannot start with byte 0x${t.toString(16).padStart(2, '0')}`);
          }
          this.type = t;
          this.state = State.Line;
          off++;
          break;
        }
        case State.Line: {
          const nl = chunk.indexOf(LF, off);
          if (nl < 0) {
            this.lineLen += n - off;
            this.checkLineLength();
            this.lineParts.push(chunk.subarray(off));
            return;
          }
          let line: string;
          if (this.lineLen === 0) {
            // The whole line is in this chunk: decode it in place.
            this.lineLen = nl - off;
            this.checkLineLength();
            if (nl === off || chunk[nl - 1] !== CR) throw missingCrlf();
            line = this.decodeLine(chunk, off, nl - 1);
          } else {
            this.lineParts.push(chunk.subarray(off, nl + 1));
            this.lineLen += nl + 1 - off;
            const all = Buffer.concat(this.lineParts, this.lineLen);
            if (all.length < 2 || all[all.length - 2] !== CR) throw missingCrlf();
            this.lineLen = all.length - 2;
            this.checkLineLength();
            line = this.decodeLine(all, 0, all.length - 2);
          }
          this.lineParts = [];
          this.lineLen = 0;
          off = nl + 1;
          this.onLine(line);
          break;
        }
        case State.Bulk: {
          const want = this.bulkLen - this.bulkGot;
          const have = n - off;
          if (this.bulkGot === 0 && have >= want + 2) {
            // The value and its CRLF are all here: one copy, out of the socket's chunk.
            if (chunk[off + want] !== CR || chunk[off + want + 1] !== LF) throw missingCrlf();
            const value = Buffer.from(chunk.subarray(off, off + want));
            off += want + 2;
            this.state = State.Type;
            this.emit(value);
            break;
          }
          const take = have < want ? have : want;
          this.bulkParts.push(chunk.subarray(off, off + take));
          this.bulkGot += take;
          off += take;
          if (this.bulkGot === this.bulkLen) this.state = State.BulkCr;
          break;
        }
        case State.BulkCr:
          if (chunk[off] !== CR) throw missingCrlf();
          off++;
          this.state = State.BulkLf;
          break;
        case State.BulkLf: {
          if (chunk[off] !== LF) throw missingCrlf();
          off++;
          // Concat copies, so the value never pins the socket's chunks in memory.
          const value = Buffer.concat(this.bulkParts, this.bulkLen);
          this.bulkParts = [];
          this.bulkGot = 0;
          this.state = State.Type;
          this.emit(value);
          break;
        }
      }
    }
  }

  private checkLineLength(): void {
    if (this.lineLen > this.maxLine + 1) {
      throw new ProtocolError(`Protocol error: reply line longer than ${this.maxLine} bytes`);
    }
  }

  /** Status and error lines are text (UTF-8); length and integer lines are ASCII digits. */
  private decodeLine(buf: Buffer, start: number, end: number): string {
    return buf.toString(this.type === PLUS || this.type === MINUS ? 'utf8' : 'latin1', start, end);
  }

  private onLine(line: string): void {
    this.state = State.Type;
    switch (this.type) {
      case PLUS:
        this.emit(line);
        return;
      case MINUS:
        this.emit(new ServerReplyError(line));
        return;
      case COLON:
        this.emit(parseInteger(line));
        return;
      case DOLLAR: {
        const len = parseLength(line, this.maxBulk, 'bulk');
        if (len === -1) return this.emit(null);
        this.bulkLen = len;
        this.bulkGot = 0;
        this.state = State.Bulk;
        if (len === 0) this.state = State.BulkCr;
        return;
      }
      case STAR: {
        const len = parseLength(line, RESP_MAX_ARRAY_LENGTH, 'multibulk');
        if (len === -1) return this.emit(null);
        if (len === 0) return this.emit([]);
        if (this.stack.length >= RESP_MAX_DEPTH) {
          throw new ProtocolError(`Protocol error: arrays nested deeper than ${RESP_MAX_DEPTH}`);
        }
        this.stack.push({ items: [], left: len });
        return;
      }
    }
  }

  /** Adds a finished value to the array being read, or hands it out when it is a whole reply. */
  private emit(value: RespValue): void {
    let v = value;
    for (;;) {
      const top = this.stack[this.stack.length - 1];
      if (top === undefined) {
        this.onReply(v);
        return;
      }
      top.items.push(v);
      if (--top.left > 0) return;
      this.stack.pop();
      v = top.items;
    }
  }
}

function missingCrlf(): ProtocolError {
  return new ProtocolError("Protocol error: expected '\\r\\n' at the end of a reply line or bulk string");
}

/** `-1` (null) or a length from 0 to `max`. */
function parseLength(line: string, max: number, what: string): number {
  if (line === '-1') return -1;
  if (!/^\d{1,10}$/.test(line)) throw new ProtocolError(`Protocol error: invalid ${what} length ${JSON.stringify(line.slice(0, 20))}`);
  const n = Number(line);
  if (n > max) throw new ProtocolError(`Protocol error: ${what} length ${n} is over the limit of ${max}`);
  return n;
}

/** RESP integers are signed 64-bit; past 2^53 a number would round, so those come back as bigint. */
function parseInteger(line: string): number | bigint {
  if (!/^-?\d{1,20}$/.test(line)) throw new ProtocolError(`Protocol error: invalid integer ${JSON.stringify(line.slice(0, 24))}`);
  const n = Number(line);
  return Number.isSafeInteger(n) ? n : BigInt(line);
}
