import pino, { type Logger } from 'pino';
import { LineBatcher } from './line-batcher.js';
import { describeKey, KEY_SHOWN_BYTES, type ByteString } from './store/bytes.js';

/** The outcome field of an op line. */
export type OpOutcome = 'ok' | 'not_found' | 'error';

/**
 * Writes the op line, one per command (docs: README "Logs"). Fields are written
 * in this order and left out when undefined, as pino does.
 */
export interface OpLog {
  /** `direct`: formatted here into the server's LineBatcher; `pino`: through the logger. */
  readonly kind: 'direct' | 'pino';
  /**
   * One op line. `key` is the command's key as it came (the line shows it through
   * describeKey: escaped, and cut at 64 bytes); `at` is performance.now() when the
   * command finished, which the line's time stamp follows.
   */
  write(cmd: string, key: ByteString | undefined, vsize: number | undefined, outcome: OpOutcome, err: string | undefined, us: number, at: number): void;
}

/**
 * The op log for a session's child logger (its bindings, such as transport and
 * client, are in every line), or null when op lines are not logged at all (the
 * logger's level is above info).
 *
 * When the logger writes to the server's own LineBatcher (line-batcher.ts), op lines
 * are formatted here into the same line pino writes for that logger: its
 * level text, time function and bindings are read once, from pino's exported
 * symbols. That is the hot path: a line per request. pino's generic
 * serialiser (a loop over the object's keys, a type switch and an escape check
 * for each value) cost about a microsecond a line, a large part of the price of
 * logging every op (node --cpu-prof under bench/udp-vs-memcached.ts).
 * test/op-log.test.ts holds the two outputs equal.
 *
 * Any other destination (a test's capture) gets the line through pino itself.
 */
export function createOpLog(log: Logger): OpLog | null {
  if (!log.isLevelEnabled('info')) return null;
  const internals = log as unknown as Record<symbol, unknown>;
  const stream = internals[pino.symbols.streamSym];
  if (stream instanceof LineBatcher) {
    const levelText = (internals[pino.symbols.lsCacheSym] as Record<number, string>)[log.levels.values.info as number];
    const time = internals[pino.symbols.timeSym] as () => string;
    const bindings = internals[pino.symbols.chindingsSym] as string;
    const messageKey = internals[pino.symbols.messageKeySym] as string;
    if (typeof levelText === 'string' && typeof time === 'function' && typeof bindings === 'string' && typeof messageKey === 'string') {
      return new FastOpLog(stream, stampsFor(levelText, time), Buffer.concat([Buffer.from(bindings), CMD]), Buffer.from(`,${JSON.stringify(messageKey)}:"op"}\n`));
    }
  }
  return new PinoOpLog(log);
}

class PinoOpLog implements OpLog {
  readonly kind = 'pino';

  constructor(private readonly log: Logger) {}

  write(cmd: string, key: ByteString | undefined, vsize: number | undefined, outcome: OpOutcome, err: string | undefined, us: number): void {
    this.log.info({ cmd, key: key === undefined ? undefined : describeKey(key), vsize, outcome, err, us }, 'op');
  }
}

const CMD = Buffer.from(',"cmd":');
const KEY = Buffer.from(',"key":');
const VSIZE = Buffer.from(',"vsize":');
const ERR = Buffer.from(',"err":');
const US = Buffer.from(',"us":');
/** The outcome and, when no error follows it, the name of the next field: one copy where there were four. */
const OUTCOME: Record<OpOutcome, Buffer> = {
  ok: Buffer.from(',"outcome":"ok"'),
  not_found: Buffer.from(',"outcome":"not_found"'),
  error: Buffer.from(',"outcome":"error"'),
};
const OUTCOME_US: Record<OpOutcome, Buffer> = {
  ok: Buffer.from(',"outcome":"ok","us":'),
  not_found: Buffer.from(',"outcome":"not_found","us":'),
  error: Buffer.from(',"outcome":"error","us":'),
};
/** Room for the numbers and the field names between the fixed parts. */
const SPARE = 128;
/** describeKey's text of a key: at most 4 chars (\xHH) for each byte shown, then `...(N bytes)`; JSON escapes each char into at most 6 bytes. */
const KEY_ROOM = 6 * (4 * KEY_SHOWN_BYTES + 32);

/**
 * The start of the op lines of every session of one logger: its level text and time
 * stamp (`{"level":"info","time":"…"`), made once per stamp. The wall clock is read
 * only when a command's monotonic end time has moved to another millisecond, so a
 * stamp lags the wall clock by less than a millisecond; reading it for every line
 * cost 2-3 % of the server's CPU under `-P 16` (`perf`), and reading it again in
 * each of 50 sessions' op logs about 40 ns more a line.
 */
class Stamps {
  /** The time stamp `bytes` was made for. */
  private stamp = '';
  private bytes: Buffer;
  /** The millisecond of performance.now() in which the wall clock was last read. */
  private atMs = -1;

  constructor(
    private readonly head: Buffer,
    private readonly time: () => string,
  ) {
    this.bytes = head;
  }

  /** The start of a line for a command that ended at `at` (performance.now()). */
  at(at: number): Buffer {
    const ms = Math.floor(at);
    if (ms !== this.atMs) {
      this.atMs = ms;
      const time = this.time();
      if (time !== this.stamp) {
        this.stamp = time;
        this.bytes = Buffer.concat([this.head, Buffer.from(time, 'latin1')]);
      }
    }
    return this.bytes;
  }
}

/** One Stamps per logger tree: its children share the level text and the time function. */
const STAMPS = new WeakMap<() => string, Map<string, Stamps>>();

function stampsFor(levelText: string, time: () => string): Stamps {
  let byLevel = STAMPS.get(time);
  if (byLevel === undefined) {
    byLevel = new Map();
    STAMPS.set(time, byLevel);
  }
  let s = byLevel.get(levelText);
  if (s === undefined) {
    s = new Stamps(Buffer.from(levelText), time);
    byLevel.set(levelText, s);
  }
  return s;
}

/**
 * Writes the line's bytes straight into the LineBatcher's chunk: the fixed parts
 * copied from Buffers made once, the rest char by char. Building the line as a
 * string and encoding it cost most of a microsecond more (V8 flattens the
 * string before encoding it). The line's start is the logger's Stamps followed by
 * the session's bindings and `"cmd":`, joined once per stamp: one copy a line.
 */
class FastOpLog implements OpLog {
  readonly kind = 'direct';
  /** The Stamps' bytes that `prefix` was made from. */
  private start: Buffer | null = null;
  /** `start` followed by the bindings: the line's first bytes, in one copy. */
  private prefix: Buffer = Buffer.alloc(0);

  constructor(
    private readonly stream: LineBatcher,
    private readonly stamps: Stamps,
    /** The session's bindings, then `,"cmd":`. */
    private readonly bindings: Buffer,
    private readonly tail: Buffer,
  ) {}

  write(cmd: string, key: ByteString | undefined, vsize: number | undefined, outcome: OpOutcome, err: string | undefined, us: number, at: number): void {
    const start = this.stamps.at(at);
    if (start !== this.start) {
      this.start = start;
      this.prefix = Buffer.concat([start, this.bindings]);
    }
    // Each string char is at most 6 bytes once escaped (\u001f); that bounds the line.
    const room = this.prefix.length + this.tail.length + SPARE + 6 * (cmd.length + (err?.length ?? 0)) + (key === undefined ? 0 : KEY_ROOM);
    const b = this.stream.reserve(room);
    let o = this.stream.used;
    o = bytes(b, o, this.prefix);
    o = jsonString(b, o, cmd);
    if (key !== undefined) {
      o = bytes(b, o, KEY);
      o = keyString(b, o, key);
    }
    if (vsize !== undefined) {
      o = bytes(b, o, VSIZE);
      o = digits(b, o, vsize);
    }
    if (err === undefined) o = bytes(b, o, OUTCOME_US[outcome]);
    else {
      o = bytes(b, o, OUTCOME[outcome]);
      o = bytes(b, o, ERR);
      o = jsonString(b, o, err);
      o = bytes(b, o, US);
    }
    o = digits(b, o, us);
    o = bytes(b, o, this.tail);
    this.stream.used = o;
    this.stream.lines++;
  }
}

/**
 * Writes describeKey(key) as a JSON string at `o`. A short key of printable ASCII
 * with no quote or backslash, the usual one, is its own description and goes byte
 * for byte in one pass; any other is described first.
 */
function keyString(b: Buffer, o: number, key: ByteString): number {
  if (key.length <= KEY_SHOWN_BYTES) {
    b[o] = 0x22;
    let p = o + 1;
    for (let i = 0; i < key.length; i++) {
      const c = key.charCodeAt(i);
      if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return jsonString(b, o, describeKey(key));
      b[p++] = c;
    }
    b[p++] = 0x22;
    return p;
  }
  return jsonString(b, o, describeKey(key));
}

/** Copies `src` (a few dozen bytes) to `o`: TypedArray#set, cheaper here than Buffer#copy's checks. */
function bytes(b: Buffer, o: number, src: Buffer): number {
  b.set(src, o);
  return o + src.length;
}

/** Writes a whole number of at least 0 in decimal, as String(n) would (numbers past 2^31 through String). */
function digits(b: Buffer, o: number, n: number): number {
  if (!(n >= 0 && n < 0x8000_0000 && n === Math.floor(n))) return ascii(b, o, String(n));
  if (n < 10) {
    b[o] = 0x30 + n;
    return o + 1;
  }
  let len = 1;
  for (let m = n; m >= 10; m = (m / 10) | 0) len++;
  for (let i = o + len - 1; i >= o; i--) {
    b[i] = 0x30 + (n % 10);
    n = (n / 10) | 0;
  }
  return o + len;
}

/** Writes `s`, which is ASCII (a number, an ISO time, an escaped JSON string), at `o`. */
function ascii(b: Buffer, o: number, s: string): number {
  for (let i = 0; i < s.length; i++) b[o++] = s.charCodeAt(i);
  return o;
}

/**
 * Writes `s` as a JSON string literal at `o`. Keys and command names in op lines
 * are short and printable ASCII (describeKey), so they go byte for byte; any other
 * char is escaped (\uXXXX for control and non-ASCII chars), so the line stays
 * ASCII and parses to the same text as pino's.
 */
function jsonString(b: Buffer, o: number, s: string): number {
  b[o++] = 0x22;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c <= 0x7e && c !== 0x22 && c !== 0x5c) {
      b[o++] = c;
    } else if (c === 0x22 || c === 0x5c) {
      b[o++] = 0x5c;
      b[o++] = c;
    } else {
      o = ascii(b, o, `\\u${c.toString(16).padStart(4, '0')}`);
    }
  }
  b[o++] = 0x22;
  return o;
}
