import { KvError, ProtocolError } from '../errors.js';
import type { ByteString } from '../store/bytes.js';
import { renderInfo } from './info-text.js';
import type { Reply } from './reply.js';
import type { ReplyWriter } from './reply-writer.js';
import { ARG_OVERHEAD_BYTES, type CommandSink, type DecoderLimits } from './sink.js';
import { splitArgs } from './split-args.js';

/** Redis's hard ceiling on one bulk string (proto-max-bulk-len); larger is a framing error. */
export const RESP_MAX_BULK_HARD = 512 * 1024 * 1024;
/** Redis's ceiling on the number of arguments in one multibulk request. */
export const RESP_MAX_ARGS = 1024 * 1024;
/** A `*N` or `$N` header line is never longer than this. */
const MAX_HEADER_LINE = 32;

const CR = 0x0d;
const LF = 0x0a;

const enum State {
  Start, // at a command boundary
  Header, // reading `*N\r\n`
  ArgHeader, // reading `$N\r\n`
  Bulk, // reading an argument's bytes
  BulkCr,
  BulkLf,
  Inline, // reading an inline command line
}

/**
 * RESP2 request decoder: a byte-level state machine with no I/O. It reads
 * multibulk requests (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) and inline commands
 * (`GET k\r\n`), as Redis does, across any split of the input into chunks.
 *
 * Framing errors (a bad length, a missing CRLF) throw ProtocolError: the stream
 * cannot be trusted after one and the connection must close. An argument over
 * `maxArgBytes` is skipped by its declared length, so the stream stays in sync
 * and only that request is rejected.
 */
export class RespDecoder {
  private state = State.Start;
  private stopped = false;
  private line: Buffer[] = [];
  private lineLen = 0;
  /** Whether the line takeLine() last returned ended in CRLF rather than a bare LF. */
  private lineHadCr = false;
  private argsLeft = 0;
  private args: ByteString[] = [];
  private bulkLen = 0;
  private bulkParts: Buffer[] = [];
  private bulkGot = 0;
  private skipping = false;
  private rejected: KvError | null = null;
  /** Bytes held for the request being read: its arguments so far and the part of the current one. */
  private held = 0;

  constructor(
    private readonly sink: CommandSink,
    private limits: DecoderLimits,
  ) {}

  /** The connection authenticated (or RESET undid it): the requests from here on are held to these limits. */
  relimit(limits: DecoderLimits): void {
    this.limits = limits;
  }

  feed(chunk: Buffer): void {
    let off = 0;
    const n = chunk.length;
    while (off < n && !this.stopped) {
      switch (this.state) {
        case State.Start: {
          const c = chunk[off] as number;
          if (c === 0x2a /* * */) {
            this.state = State.Header;
            off++;
          } else {
            this.state = State.Inline;
          }
          break;
        }
        case State.Header:
        case State.ArgHeader: {
          if (this.lineLen === 0) {
            // Fast path: the whole header line is in this chunk; read its number from the bytes.
            const end = this.fastHeader(chunk, off);
            if (end > 0) {
              off = end;
              break;
            }
          }
          const end = this.readLine(chunk, off, MAX_HEADER_LINE);
          if (end < 0) return;
          off = end;
          const header = this.state === State.Header;
          const text = this.takeLine();
          // As Redis: a length line ends in CRLF; a bare LF is a framing error.
          if (!this.lineHadCr) {
            throw new ProtocolError(header ? 'Protocol error: invalid multibulk length' : 'Protocol error: invalid bulk length');
          }
          if (header) this.onHeader(text);
          else this.onArgHeader(text);
          break;
        }
        case State.Bulk: {
          const want = this.bulkLen - this.bulkGot;
          const have = n - off;
          if (this.bulkGot === 0 && have >= want && !this.skipping) {
            // The whole argument is in this chunk: the common, copy-free path.
            this.args.push(chunk.toString('latin1', off, off + want));
            this.hold(want + ARG_OVERHEAD_BYTES);
            off += want;
            this.state = State.BulkCr;
            break;
          }
          const take = have < want ? have : want;
          if (!this.skipping) {
            this.bulkParts.push(chunk.subarray(off, off + take));
            this.hold(take);
          }
          this.bulkGot += take;
          off += take;
          if (this.bulkGot === this.bulkLen) {
            if (!this.skipping) this.hold(ARG_OVERHEAD_BYTES);
            if (!this.skipping) this.args.push(Buffer.concat(this.bulkParts, this.bulkLen).toString('latin1'));
            this.bulkParts = [];
            this.state = State.BulkCr;
          }
          break;
        }
        case State.BulkCr:
          if (chunk[off] !== CR) throw new ProtocolError("Protocol error: expected '\\r\\n' after a bulk string");
          off++;
          this.state = State.BulkLf;
          break;
        case State.BulkLf:
          if (chunk[off] !== LF) throw new ProtocolError("Protocol error: expected '\\r\\n' after a bulk string");
          off++;
          this.afterArg();
          break;
        case State.Inline: {
          const end = this.readLine(chunk, off, this.limits.maxLineBytes);
          if (end < 0) return;
          off = end;
          this.onInline(this.takeLine());
          break;
        }
      }
    }
  }

  /** Bytes held for the unfinished request (its arguments so far, and a partial line). */
  get pendingBytes(): number {
    return this.held + this.lineLen;
  }

  private hold(bytes: number): void {
    this.held += bytes;
    if (this.held > this.limits.maxRequestBytes) {
      throw new ProtocolError(
        `query buffer limit reached: an unfinished request holds more than ${this.limits.maxRequestBytes} bytes (raise --max-query-buffer); closing the connection`,
        { code: 'QUERY_BUFFER_LIMIT' },
      );
    }
  }

  /**
   * Reads a `*N\r\n` or `$N\r\n` header straight from the chunk when it is all
   * there and well formed. Returns the offset after it, or -1 to let the general
   * path (which handles splits and reports errors) take over.
   */
  private fastHeader(chunk: Buffer, off: number): number {
    const n = chunk.length;
    let i = off;
    if (this.state === State.ArgHeader) {
      if (chunk[i] !== 0x24 /* $ */) return -1;
      i++;
    }
    let value = 0;
    const digitsStart = i;
    while (i < n) {
      const c = chunk[i] as number;
      if (c < 0x30 || c > 0x39) break;
      value = value * 10 + (c - 0x30);
      i++;
    }
    const digits = i - digitsStart;
    if (digits === 0 || digits > 9 || i + 1 >= n || chunk[i] !== CR || chunk[i + 1] !== LF) return -1;
    if (this.state === State.Header) this.onCount(value);
    else this.onBulkLength(value);
    return i + 2;
  }

  /**
   * Collects bytes up to and including LF. Returns the offset after the LF, or -1
   * when the chunk ended first. Throws when the line passes `max` bytes.
   */
  private readLine(chunk: Buffer, off: number, max: number): number {
    const nl = chunk.indexOf(LF, off);
    const stop = nl < 0 ? chunk.length : nl + 1;
    this.line.push(chunk.subarray(off, stop));
    this.lineLen += stop - off;
    if (this.lineLen > max + 2) {
      throw new ProtocolError(
        this.state === State.Inline
          ? `Protocol error: too big inline request (over ${max} bytes; send large values as RESP bulk strings)`
          : this.state === State.Header
            ? 'Protocol error: invalid multibulk length'
            : 'Protocol error: invalid bulk length',
      );
    }
    return nl < 0 ? -1 : stop;
  }

  /** The collected line without its LF, and without a CR before it. */
  private takeLine(): string {
    const buf = this.line.length === 1 ? (this.line[0] as Buffer) : Buffer.concat(this.line, this.lineLen);
    this.line = [];
    this.lineLen = 0;
    let end = buf.length - 1;
    this.lineHadCr = end > 0 && buf[end - 1] === CR;
    if (this.lineHadCr) end--;
    return buf.toString('latin1', 0, end);
  }

  private onHeader(text: string): void {
    const count = parseLength(text);
    if (count === null) throw new ProtocolError('Protocol error: invalid multibulk length');
    this.onCount(count);
  }

  private onCount(count: number): void {
    if (count > RESP_MAX_ARGS || count > this.limits.maxArgs) {
      throw new ProtocolError(this.limits.unauthenticated === true ? 'Protocol error: unauthenticated multibulk length' : 'Protocol error: invalid multibulk length');
    }
    if (count <= 0) {
      // `*0` and `*-1` are empty requests; Redis ignores them.
      this.state = State.Start;
      return;
    }
    this.argsLeft = count;
    this.args = [];
    this.rejected = null;
    this.held = 0;
    this.state = State.ArgHeader;
  }

  private onArgHeader(text: string): void {
    if (text.charCodeAt(0) !== 0x24 /* $ */) {
      throw new ProtocolError(`Protocol error: expected '$', got '${text.charAt(0)}'`);
    }
    const len = parseLength(text.slice(1));
    if (len === null) throw new ProtocolError('Protocol error: invalid bulk length');
    this.onBulkLength(len);
  }

  private onBulkLength(len: number): void {
    if (len < 0 || len > RESP_MAX_BULK_HARD) {
      throw new ProtocolError('Protocol error: invalid bulk length');
    }
    if (len > this.limits.maxArgBytes && this.limits.unauthenticated === true) throw new ProtocolError('Protocol error: unauthenticated bulk length');
    this.bulkLen = len;
    this.bulkGot = 0;
    this.skipping = len > this.limits.maxArgBytes;
    if (this.skipping && this.rejected === null) {
      this.rejected = new KvError(
        'VALUE_TOO_LARGE',
        `argument of ${len} bytes is over the limit of ${this.limits.maxArgBytes} bytes (raise --max-value-size)`,
      );
    }
    this.state = len === 0 ? State.BulkCr : State.Bulk;
    if (len === 0) {
      this.args.push('');
      this.hold(ARG_OVERHEAD_BYTES);
    }
  }

  private afterArg(): void {
    this.argsLeft--;
    if (this.argsLeft > 0) {
      this.state = State.ArgHeader;
      return;
    }
    this.state = State.Start;
    const args = this.args;
    this.args = [];
    this.held = 0;
    const ok = this.rejected !== null ? this.sink.reject(this.rejected) : this.sink.command(args);
    this.rejected = null;
    if (!ok) this.stopped = true;
  }

  private onInline(text: string): void {
    this.state = State.Start;
    const args = splitArgs(text);
    if (args === null) throw new ProtocolError('Protocol error: unbalanced quotes in request');
    if (args.length === 0) return; // an empty line is not a command
    if (args.length > this.limits.maxArgs) throw new ProtocolError(this.limits.unauthenticated === true ? 'Protocol error: unauthenticated multibulk length' : 'Protocol error: too many arguments');
    if (!this.sink.command(args)) this.stopped = true;
  }
}

/** A decimal integer as Redis accepts it in a header (optional minus sign, digits only). */
function parseLength(text: string): number | null {
  if (!/^-?\d{1,18}$/.test(text)) return null;
  return Number(text);
}

/** Encodes a reply the way Redis does (RESP2). */
export function encodeRespReply(w: ReplyWriter, r: Reply): void {
  encodeResp(w, r, false);
}

/**
 * Encodes a reply for a connection that chose RESP3 (HELLO 3): as RESP2 but for what
 * RESP3 changes for the replies dualkv gives, as Redis 7.0 sends them (docs/PROTOCOL.md
 * §2.2, HELLO): nulls (`_`, for the null bulk and the null array alike), maps (`%`),
 * sets (`~`) and verbatim text (`=len\r\ntxt:…`, for INFO, STATS and CLIENT LIST/INFO).
 */
export function encodeResp3Reply(w: ReplyWriter, r: Reply): void {
  encodeResp(w, r, true);
}

function encodeResp(w: ReplyWriter, r: Reply, resp3: boolean): void {
  switch (r.t) {
    case 'ok':
      w.ascii('+OK\r\n');
      return;
    case 'status':
      w.ascii('+' + oneLine(r.s) + '\r\n');
      return;
    case 'bulk':
      // RESP3's verbatim string: the length counts the `txt:` before the text.
      w.ascii(resp3 && r.verbatim === true ? '=' + (r.v.length + 4) + '\r\ntxt:' : '$' + r.v.length + '\r\n');
      w.bytes(r.v);
      w.ascii('\r\n');
      return;
    case 'nil':
      w.ascii(resp3 ? '_\r\n' : '$-1\r\n');
      return;
    case 'int':
    case 'deleted':
      w.ascii(':' + r.n + '\r\n');
      return;
    case 'versioned':
      // [value, version]: the version as an integer (it stays below 2^53).
      w.ascii('*2\r\n$' + r.v.length + '\r\n');
      w.bytes(r.v);
      w.ascii('\r\n:' + r.version + '\r\n');
      return;
    case 'stats':
      encodeResp(w, { t: 'bulk', v: renderInfo(r.sections), verbatim: true }, resp3);
      return;
    case 'goodbye':
    case 'stored':
      w.ascii('+OK\r\n');
      return;
    case 'cas':
      w.ascii((r.applied ? '*2\r\n+OK\r\n:' : '*2\r\n+CONFLICT\r\n:') + r.version + '\r\n');
      return;
    case 'keys':
      if (r.cursor !== null) w.ascii('*2\r\n$' + r.cursor.length + '\r\n' + r.cursor + '\r\n');
      w.ascii('*' + r.keys.length + '\r\n');
      for (const k of r.keys) {
        w.ascii('$' + k.length + '\r\n');
        w.bytes(k);
        w.ascii('\r\n');
      }
      return;
    case 'array':
    case 'exec':
      if (r.items === null) {
        w.ascii(resp3 ? '_\r\n' : '*-1\r\n');
        return;
      }
      w.ascii((resp3 && r.t === 'array' && r.set === true ? '~' : '*') + r.items.length + '\r\n');
      for (const item of r.items) encodeResp(w, item, resp3);
      return;
    case 'map':
      w.ascii((resp3 ? '%' + r.entries.length : '*' + 2 * r.entries.length) + '\r\n');
      for (const [k, v] of r.entries) {
        encodeResp(w, k, resp3);
        encodeResp(w, v, resp3);
      }
      return;
    case 'error':
      w.bytes('-' + r.err.respPrefix + ' ' + oneLine(r.err.message) + '\r\n');
      return;
  }
}

/** Status and error lines cannot carry CR or LF. */
function oneLine(s: string): string {
  return s.includes('\r') || s.includes('\n') ? s.replace(/[\r\n]+/g, ' ') : s;
}
