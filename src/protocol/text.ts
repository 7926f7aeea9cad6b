import { KvError, ProtocolError } from '../errors.js';
import { renderStatsLine } from './info-text.js';
import type { Reply } from './reply.js';
import type { ReplyWriter } from './reply-writer.js';
import type { CommandSink, DecoderLimits } from './sink.js';
import { isSpace, quoteArg, readArg, splitArgs } from './split-args.js';

const LF = 0x0a;
const CR = 0x0d;

/**
 * Commands whose value is the rest of the line (docs/PROTOCOL.md §1.2), and how many
 * words come before it: PUT key value, SETEX key seconds value, CAS key version value,
 * SETRANGE key offset value.
 */
const REST_OF_LINE: ReadonlyMap<string, number> = new Map([
  ['PUT', 1],
  ['SET', 1],
  ['SETEX', 2],
  ['PSETEX', 2],
  ['CAS', 2],
  ['APPEND', 1],
  ['SETNX', 1],
  ['GETSET', 1],
  ['SETRANGE', 2],
]);

/**
 * The human text dialect: one command per LF-terminated line (a CR before the LF
 * is dropped). A pure decoder: bytes in, commands or errors out.
 *
 * A line over `maxLineBytes` is rejected with LINE_TOO_LONG and skipped up to its
 * end; the stream stays usable, since the next line starts after the next LF.
 */
export class TextLineDecoder {
  private parts: Buffer[] = [];
  private len = 0;
  private discarding = false;
  private stopped = false;

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
    while (off < chunk.length && !this.stopped) {
      const nl = chunk.indexOf(LF, off);
      if (nl < 0) {
        this.collect(chunk, off, chunk.length);
        return;
      }
      this.collect(chunk, off, nl);
      off = nl + 1;
      if (this.discarding) {
        this.discarding = false;
        continue;
      }
      const buf = this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts, this.len);
      let end = this.len;
      if (end > 0 && buf[end - 1] === CR) end--;
      this.parts = [];
      this.len = 0;
      if (end > this.limits.maxLineBytes) {
        // The byte collect() kept room for was not a CR: the line is one over.
        this.refuseLongLine();
        continue;
      }
      const line = buf.toString('latin1', 0, end);
      const parsed = parseTextLine(line);
      if (parsed === null) continue;
      const ok = parsed instanceof KvError ? this.sink.reject(parsed) : this.sink.command(parsed);
      if (!ok) this.stopped = true;
    }
  }

  /** Bytes held for the line being read. */
  get pendingBytes(): number {
    return this.len;
  }

  private collect(chunk: Buffer, from: number, to: number): void {
    if (this.discarding || to === from) return;
    this.len += to - from;
    // The limit is on the line without its CRLF: keep room for a CR before the LF.
    if (this.len > this.limits.maxLineBytes + 1) {
      this.parts = [];
      this.len = 0;
      this.discarding = true;
      this.refuseLongLine();
      return;
    }
    this.parts.push(chunk.subarray(from, to));
  }

  private refuseLongLine(): void {
    if (this.limits.unauthenticated === true) throw new ProtocolError(`unauthenticated request line over ${this.limits.maxLineBytes} bytes; AUTH first`);
    const ok = this.sink.reject(
      new KvError(
        'LINE_TOO_LONG',
        `line is over the limit of ${this.limits.maxLineBytes} bytes (raise --max-line-size, or send large values over RESP)`,
      ),
    );
    if (!ok) this.stopped = true;
  }
}

/**
 * One line to arguments. Null for a blank line (not a command). For the commands of
 * REST_OF_LINE the value is the rest of the line after its leading words and one
 * space, unless it starts with a double quote: then it is one quoted argument, and
 * the words after it are options (`SET k "v" NX EX 10`).
 */
export function parseTextLine(line: string): string[] | KvError | null {
  let i = 0;
  while (i < line.length && isSpace(line.charCodeAt(i))) i++;
  if (i >= line.length) return null;
  let nameEnd = i;
  while (nameEnd < line.length && !isSpace(line.charCodeAt(nameEnd))) nameEnd++;
  const name = line.slice(i, nameEnd);
  const leading = REST_OF_LINE.get(name.toUpperCase());
  if (leading === undefined) {
    const args = splitArgs(line);
    if (args === null) return badQuoting();
    // Only separators splitArgs skips (\v, \f): as blank as an empty line.
    return args.length === 0 ? null : args;
  }
  const out = [name];
  let k = nameEnd;
  for (let w = 0; w < leading; w++) {
    while (k < line.length && isSpace(line.charCodeAt(k))) k++;
    if (k >= line.length) return out;
    const word = readArg(line, k);
    if (word === null) return badQuoting();
    out.push(word.value);
    k = word.end;
  }
  if (k >= line.length) return out;
  const rest = line.slice(k + 1);
  if (rest.charCodeAt(0) !== 0x22 /* " */) {
    out.push(rest);
    return out;
  }
  const options = splitArgs(rest);
  if (options === null) return badQuoting();
  const value = readArg(rest, 0);
  // A closing quote glued to the next word (`"a"b`) reads as one word to splitArgs: refuse it as before.
  if (value === null || (value.end < rest.length && !isSpace(rest.charCodeAt(value.end)))) {
    return new KvError('BAD_QUOTING', 'text right after the closing quote of the value; put a space before an option');
  }
  out.push(...options);
  return out;
}

function badQuoting(): KvError {
  return new KvError('BAD_QUOTING', 'unbalanced quotes; close the quote, and escape a quote inside with \\"');
}

/** A value as printed after `VALUE `: raw when plain printable text, otherwise quoted. */
export function formatTextValue(v: string): string {
  return isPlain(v) ? v : quoteArg(v);
}

/** A key in a list of words: raw when one plain word (printable, no space, no leading quote), otherwise quoted; splitArgs reads either back. */
export function formatTextWord(k: string): string {
  if (k.length === 0 || k.charCodeAt(0) === 0x22 || k.charCodeAt(0) === 0x27) return quoteArg(k);
  for (let i = 0; i < k.length; i++) {
    const c = k.charCodeAt(i);
    if (c <= 0x20 || c > 0x7e) return quoteArg(k);
  }
  return k;
}

function isPlain(v: string): boolean {
  if (v.length === 0 || v.charCodeAt(0) === 0x22) return false;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

/** Encodes a reply as exactly one text-dialect line (docs/PROTOCOL.md §1.3). */
export function encodeTextReply(w: ReplyWriter, r: Reply): void {
  switch (r.t) {
    case 'ok':
      w.ascii('OK\n');
      return;
    case 'status':
      // Exactly one line per reply, whatever the status says.
      w.ascii((r.s.includes('\n') || r.s.includes('\r') ? r.s.replace(/[\r\n]+/g, ' ') : r.s) + '\n');
      return;
    case 'bulk':
      w.ascii('VALUE ');
      w.bytes(formatTextValue(r.v));
      w.ascii('\n');
      return;
    case 'nil':
      w.ascii('NOT_FOUND\n');
      return;
    case 'int':
      w.ascii('INT ' + r.n + '\n');
      return;
    case 'deleted':
      // One key: DELETED or NOT_FOUND, as the seed dialect answered; several: how many went.
      w.ascii(r.of === 1 ? (r.n > 0 ? 'DELETED\n' : 'NOT_FOUND\n') : `DELETED ${r.n}\n`);
      return;
    case 'versioned':
      // docs/PROTOCOL.md §1.3: the version first, so that the value stays the rest of the line.
      w.ascii(`VERSIONED ${r.version} `);
      w.bytes(formatTextValue(r.v));
      w.ascii('\n');
      return;
    case 'stats':
      w.ascii(renderStatsLine(r.sections) + '\n');
      return;
    case 'goodbye':
      w.ascii('BYE\n');
      return;
    case 'stored':
      w.ascii(`OK ${r.version}\n`);
      return;
    case 'cas':
      w.ascii(`${r.applied ? 'OK' : 'CONFLICT'} ${r.version}\n`);
      return;
    case 'array':
      w.bytes(`ARRAY ${r.items.length}${r.items.map((it) => ' ' + arrayItem(it)).join('')}\n`);
      return;
    case 'map':
      encodeTextReply(w, { t: 'array', items: r.entries.flat() });
      return;
    case 'keys':
      // docs/PROTOCOL.md §1.3: `KEYS n k …`, `CURSOR next n k …`, each key printed as a value is.
      w.bytes(`${r.cursor === null ? 'KEYS' : `CURSOR ${r.cursor}`} ${r.keys.length}${r.keys.map((k) => ' ' + formatTextWord(k)).join('')}\n`);
      return;
    case 'exec':
      // docs/PROTOCOL.md §1.4: `EXEC n`, then the n replies, each its own line as if sent alone.
      if (r.items === null) {
        w.ascii('ABORTED a watched key changed; nothing ran\n');
        return;
      }
      w.ascii(`EXEC ${r.items.length}\n`);
      for (const item of r.items) encodeTextReply(w, item);
      return;
    case 'error':
      w.bytes(`ERR ${r.err.code} ${(r.err.textMessage ?? r.err.message).replace(/[\r\n]+/g, ' ')}\n`);
      return;
  }
}

function arrayItem(r: Reply): string {
  switch (r.t) {
    case 'bulk':
      return quoteArg(r.v);
    case 'int':
    case 'deleted':
      return String(r.n);
    case 'nil':
      return '(nil)';
    case 'ok':
      return 'OK';
    case 'status':
      return quoteArg(r.s);
    case 'array':
      // docs/PROTOCOL.md §1.3: a list inside a list (LCS … IDX) in parentheses, on the same line.
      return `(${r.items.map(arrayItem).join(' ')})`;
    case 'map':
      return arrayItem({ t: 'array', items: r.entries.flat() });
    default:
      return quoteArg(JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)));
  }
}
