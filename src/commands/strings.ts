import type { Change, MaybePromise } from '../backend/types.js';
import { NO_CHANGE } from '../backend/types.js';
import { KvError } from '../errors.js';
import { errorReply, type Reply } from '../protocol/reply.js';
import type { ByteString } from '../store/bytes.js';
import { notInteger, parseLongLong } from './expiry-args.js';
import { valueTooLarge } from './keyspace.js';
import { lcsCells, longestCommonSubsequence } from './lcs.js';
import { addLongDouble, formatLongDouble, parseLongDouble } from './long-double.js';
import type { CommandContext, CommandSpec } from './types.js';

/**
 * The string commands of Redis 7.0 on one key (t_string.c, and TYPE and TOUCH from
 * db.c / expire.c): the INCR family, INCRBYFLOAT, APPEND, STRLEN, GETRANGE (SUBSTR),
 * SETRANGE, SETNX, GETSET, TYPE, TOUCH and LCS, with Redis's replies, error texts
 * and 64-bit integer arithmetic. Every value is a string here, so Redis's WRONGTYPE
 * never arises. A write that edits a value (INCR*, APPEND, SETRANGE) keeps the
 * key's expiry, as Redis's dbOverwrite does; GETSET and SETNX store as SET does.
 */

const LLONG_MAX = 9223372036854775807n;
const LLONG_MIN = -9223372036854775808n;

/**
 * Applies `f` to a value that may still be coming. Its twin in keyspace.ts stays
 * private: a module that exports `then` is a thenable, and `await import()` of it
 * would call it.
 */
function then<T>(v: MaybePromise<T>, f: (t: T) => Reply): MaybePromise<Reply> {
  return v instanceof Promise ? v.then(f) : f(v);
}

const int = (n: number | bigint): Reply => ({ t: 'int', n });
const bulk = (v: ByteString): Reply => ({ t: 'bulk', v });

function overflow(message = 'increment or decrement would overflow'): KvError {
  return new KvError('OVERFLOW', message);
}

function notFloat(): KvError {
  return new KvError('NOT_FLOAT', 'value is not a valid float');
}

const FLOAT_ZERO = parseLongDouble('0');

/**
 * A value the command would make that is over --max-value-size (Redis's
 * proto-max-bulk-len, as CONFIG GET shows it): Redis's words first, for clients that
 * match them, then ours. The key is left as it was.
 */
function resultTooLarge(ctx: CommandContext, length: number | bigint): KvError | null {
  if (length <= ctx.limits.maxValueSize) return null;
  return new KvError(
    'VALUE_TOO_LARGE',
    `string exceeds maximum allowed size (proto-max-bulk-len): the result would be ${length} bytes, over the limit of ${ctx.limits.maxValueSize} bytes (raise --max-value-size)`,
  );
}

/** A decision's result: what to answer, or the error that left the key unchanged. */
type Outcome = Reply | KvError;

function answer({ result }: { result: Outcome }): Reply {
  return result instanceof KvError ? errorReply(result) : result;
}

const refuse = (err: KvError): { change: Change; result: Outcome } => ({ change: NO_CHANGE, result: err });

/** Edits a key's value in place (INCR*, APPEND, SETRANGE): the expiry stays. */
function keepTtlPut(value: ByteString): Change {
  return { kind: 'put', value, expiresAt: 'keep' };
}

/** Adds two 64-bit integers; null when the sum is out of range. Short ones add in doubles. */
function addInteger(a: number | bigint, b: number | bigint): number | bigint | null {
  if (typeof a === 'number' && typeof b === 'number') return a + b; // each below 10^15: exact
  const sum = BigInt(a) + BigInt(b);
  return sum > LLONG_MAX || sum < LLONG_MIN ? null : sum;
}

/** INCR, DECR, INCRBY, DECRBY: the stored value must be an integer as string2ll reads it (no spaces, no leading zeros, no '+'). */
function runIncrBy(ctx: CommandContext, key: ByteString, by: number | bigint): MaybePromise<Reply> {
  return then(
    ctx.backend.update(key, (cur) => {
      const base = cur === undefined ? 0 : parseLongLong(cur.value);
      if (base === null) return refuse(notInteger());
      const sum = addInteger(base, by);
      if (sum === null) return refuse(overflow());
      const value = String(sum);
      const tooLarge = resultTooLarge(ctx, value.length);
      if (tooLarge) return refuse(tooLarge);
      return { change: keepTtlPut(value), result: int(sum) };
    }),
    answer,
  );
}

function incrBySpec(name: string, arity: number, usage: string, increment: (args: ByteString[]) => number | bigint | KvError): CommandSpec {
  return spec(name, {
    arity,
    write: true,
    denyOom: true,
    usage,
    run(ctx, _s, args) {
      const by = increment(args);
      return by instanceof KvError ? errorReply(by) : runIncrBy(ctx, args[1] as ByteString, by);
    },
  });
}

/** INCRBYFLOAT key increment: in x87 long doubles and printed as Redis prints them (long-double.ts). */
function runIncrByFloat(ctx: CommandContext, args: ByteString[]): MaybePromise<Reply> {
  const incr = parseLongDouble(args[2] as string);
  return then(
    ctx.backend.update(args[1] as ByteString, (cur) => {
      const base = cur === undefined ? FLOAT_ZERO : parseLongDouble(cur.value);
      if (base === null || incr === null) return refuse(notFloat());
      const sum = addLongDouble(base, incr);
      if (sum === null || sum.kind === 'inf') return refuse(overflow('increment would produce NaN or Infinity'));
      const value = formatLongDouble(sum);
      const tooLarge = resultTooLarge(ctx, value.length);
      if (tooLarge) return refuse(tooLarge);
      return { change: keepTtlPut(value), result: bulk(value) };
    }),
    answer,
  );
}

/** APPEND key value: a missing key is created with the value (an empty one too, as in Redis). */
function runAppend(ctx: CommandContext, args: ByteString[]): MaybePromise<Reply> {
  const tail = args[2] as ByteString;
  return then(
    ctx.backend.update(args[1] as ByteString, (cur) => {
      const length = (cur?.value.length ?? 0) + tail.length;
      const tooLarge = resultTooLarge(ctx, length);
      if (tooLarge) return refuse(tooLarge);
      return { change: keepTtlPut(cur === undefined ? tail : cur.value + tail), result: int(length) };
    }),
    answer,
  );
}

/**
 * SETRANGE key offset value, in Redis 7.0's order: the offset (an integer, not
 * negative), then the key; an empty value changes nothing and answers the length
 * (0, and no key, when missing); past the end the value is padded with zero bytes.
 */
function runSetRange(ctx: CommandContext, args: ByteString[]): MaybePromise<Reply> {
  const offset = parseLongLong(args[2] as string);
  if (offset === null) return errorReply(notInteger());
  if (offset < 0) return errorReply(new KvError('NOT_INTEGER', 'offset is out of range'));
  const part = args[3] as ByteString;
  return then(
    ctx.backend.update(args[1] as ByteString, (cur) => {
      const old = cur?.value ?? '';
      if (part.length === 0) return { change: NO_CHANGE, result: int(old.length) };
      const end = typeof offset === 'number' ? offset + part.length : offset + BigInt(part.length);
      const tooLarge = resultTooLarge(ctx, end > old.length ? end : old.length);
      if (tooLarge) return refuse(tooLarge);
      // Below the limit, so a safe integer.
      const at = Number(offset);
      const head = old.length >= at ? old.slice(0, at) : old + '\0'.repeat(at - old.length);
      const value = head + part + old.slice(at + part.length);
      return { change: keepTtlPut(value), result: int(value.length) };
    }),
    answer,
  );
}

/**
 * GETRANGE / SUBSTR key start end: inclusive, negative from the end, as Redis 7.0's
 * getrangeCommand. The indexes are 64-bit, and compared as such (two far negative
 * ones in the wrong order are an empty range, not the first byte).
 */
function runGetRange(ctx: CommandContext, args: ByteString[]): MaybePromise<Reply> {
  const start = parseLongLong(args[2] as string);
  const end = parseLongLong(args[3] as string);
  if (start === null || end === null) return errorReply(notInteger());
  return then(ctx.backend.get(args[1] as ByteString), (e) => {
    const v = e?.value ?? '';
    const range = byteRange(BigInt(v.length), BigInt(start), BigInt(end));
    return bulk(range === null ? '' : v.slice(range[0], range[1] + 1));
  });
}

/** The inclusive [start, end] GETRANGE takes of a string of `len` bytes, or null for none. */
function byteRange(len: bigint, start: bigint, end: bigint): [number, number] | null {
  if (start < 0n && end < 0n && start > end) return null;
  if (start < 0n) start = len + start;
  if (end < 0n) end = len + end;
  if (start < 0n) start = 0n;
  if (end < 0n) end = 0n;
  if (end >= len) end = len - 1n;
  return start > end || len === 0n ? null : [Number(start), Number(end)];
}

/** SETNX key value: `:1` stored (as SET: no expiry), `:0` the key exists. */
function runSetNx(ctx: CommandContext, args: ByteString[]): MaybePromise<Reply> {
  const value = args[2] as ByteString;
  const tooLarge = valueTooLarge(ctx, value);
  if (tooLarge) return tooLarge;
  return then(
    ctx.backend.update(args[1] as ByteString, (cur) =>
      cur === undefined ? { change: { kind: 'put', value, expiresAt: 0 }, result: int(1) } : { change: NO_CHANGE, result: int(0) },
    ),
    ({ result }) => result,
  );
}

/** GETSET key value: the old value (or nil), and the new one stored as SET stores it (the expiry cleared). */
function runGetSet(ctx: CommandContext, args: ByteString[]): MaybePromise<Reply> {
  const value = args[2] as ByteString;
  const tooLarge = valueTooLarge(ctx, value);
  if (tooLarge) return tooLarge;
  return then(
    ctx.backend.update(args[1] as ByteString, (cur) => ({ change: { kind: 'put', value, expiresAt: 0 }, result: cur })),
    ({ result }) => (result === undefined ? { t: 'nil' } : bulk(result.value)),
  );
}

/** TOUCH key [key ...]: how many exist; each lookup counts as a use for the LRU eviction policies. */
function runTouch(ctx: CommandContext, keys: readonly ByteString[]): MaybePromise<Reply> {
  let n = 0;
  // One key after another, so that a backend that answers later still answers in order.
  const from = (i: number): MaybePromise<Reply> => {
    for (; i < keys.length; i++) {
      const e = ctx.backend.get(keys[i] as ByteString);
      if (e instanceof Promise) {
        const next = i + 1;
        return e.then((found) => {
          if (found !== undefined) n++;
          return from(next);
        });
      }
      if (e !== undefined) n++;
    }
    return int(n);
  };
  return from(0);
}

interface LcsOptions {
  readonly len: boolean;
  readonly idx: boolean;
  readonly withMatchLen: boolean;
  readonly minMatchLen: number;
}

/** LCS's options, in Redis 7.0's order: each in turn (a bad MINMATCHLEN or an unknown word ends it), then LEN with IDX. */
function parseLcsOptions(args: ByteString[]): LcsOptions | KvError {
  let len = false;
  let idx = false;
  let withMatchLen = false;
  let minMatchLen = 0;
  for (let i = 3; i < args.length; i++) {
    const opt = (args[i] as string).toUpperCase();
    if (opt === 'IDX') idx = true;
    else if (opt === 'LEN') len = true;
    else if (opt === 'WITHMATCHLEN') withMatchLen = true;
    else if (opt === 'MINMATCHLEN' && i + 1 < args.length) {
      const v = parseLongLong(args[++i] as string);
      if (v === null) return notInteger();
      // Negative is 0 (no minimum); past any string's length, every run is shorter.
      minMatchLen = v < 0 ? 0 : typeof v === 'number' ? v : Number.MAX_SAFE_INTEGER;
    } else return new KvError('SYNTAX', 'syntax error');
  }
  if (len && idx) return new KvError('SYNTAX', 'If you want both the length and indexes, please just use IDX.');
  return { len, idx, withMatchLen, minMatchLen };
}

/** LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]; a missing key is the empty string. */
function runLcs(ctx: CommandContext, args: ByteString[]): MaybePromise<Reply> {
  const o = parseLcsOptions(args);
  if (o instanceof KvError) return errorReply(o);
  const ea = ctx.backend.get(args[1] as ByteString);
  const eb = ctx.backend.get(args[2] as ByteString);
  if (ea instanceof Promise || eb instanceof Promise) {
    return Promise.all([ea, eb]).then(([a, b]) => lcsReply(ctx, a?.value ?? '', b?.value ?? '', o));
  }
  return lcsReply(ctx, ea?.value ?? '', eb?.value ?? '', o);
}

function lcsReply(ctx: CommandContext, a: ByteString, b: ByteString, o: LcsOptions): Reply {
  // Redis refuses a table (4 bytes a cell) larger than proto-max-bulk-len, which is --max-value-size here.
  const tableBytes = lcsCells(a.length, b.length) * 4;
  if (tableBytes > ctx.limits.maxValueSize) {
    return errorReply(
      new KvError(
        'VALUE_TOO_LARGE',
        `Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len: strings of ${a.length} and ${b.length} bytes need a table of ${tableBytes} bytes, over the limit of ${ctx.limits.maxValueSize} bytes (raise --max-value-size)`,
      ),
    );
  }
  const r = longestCommonSubsequence(a, b, o.minMatchLen);
  if (!o.idx) return o.len ? int(r.length) : bulk(r.common);
  const pair = (p: readonly [number, number]): Reply => ({ t: 'array', items: [int(p[0]), int(p[1])] });
  const matches: Reply[] = r.matches.map((m) => ({
    t: 'array',
    items: o.withMatchLen ? [pair(m.a), pair(m.b), int(m.length)] : [pair(m.a), pair(m.b)],
  }));
  // RESP2's form of Redis's two-entry map.
  return { t: 'map', entries: [[bulk('matches'), { t: 'array', items: matches }], [bulk('len'), int(r.length)]] };
}

interface Shape {
  readonly arity: number;
  readonly write: boolean;
  readonly denyOom?: boolean;
  readonly lastKey?: number;
  readonly usage: string;
  readonly run: CommandSpec['run'];
}

function spec(name: string, s: Shape): CommandSpec {
  return { name, firstKey: 1, lastKey: s.lastKey ?? 1, group: 'keyspace', ...s };
}

/** An increment argument (string2ll), or its error. */
function increment(word: string, negate: boolean): number | bigint | KvError {
  const v = parseLongLong(word);
  if (v === null) return notInteger();
  if (!negate) return v;
  // Redis 7.0's decrbyCommand: -LLONG_MIN does not exist.
  if (v === LLONG_MIN) return overflow('decrement would overflow');
  return -v;
}

const getRangeSpec = (name: string): CommandSpec =>
  spec(name, { arity: 4, write: false, usage: `${name.toUpperCase()} key start end`, run: (ctx, _s, args) => runGetRange(ctx, args) });

/** Flags, arities and key positions as Redis 7.0's command table has them (src/commands/*.json). */
export const stringCommands: CommandSpec[] = [
  incrBySpec('incr', 2, 'INCR key', () => 1),
  incrBySpec('decr', 2, 'DECR key', () => -1),
  incrBySpec('incrby', 3, 'INCRBY key increment', (args) => increment(args[2] as string, false)),
  incrBySpec('decrby', 3, 'DECRBY key decrement', (args) => increment(args[2] as string, true)),
  spec('incrbyfloat', { arity: 3, write: true, denyOom: true, usage: 'INCRBYFLOAT key increment', run: (ctx, _s, args) => runIncrByFloat(ctx, args) }),
  spec('append', { arity: 3, write: true, denyOom: true, usage: 'APPEND key value', run: (ctx, _s, args) => runAppend(ctx, args) }),
  spec('strlen', {
    arity: 2,
    write: false,
    usage: 'STRLEN key',
    run: (ctx, _s, args) => then(ctx.backend.get(args[1] as ByteString), (e) => int(e?.value.length ?? 0)),
  }),
  getRangeSpec('getrange'),
  getRangeSpec('substr'),
  spec('setrange', { arity: 4, write: true, denyOom: true, usage: 'SETRANGE key offset value', run: (ctx, _s, args) => runSetRange(ctx, args) }),
  spec('setnx', { arity: 3, write: true, denyOom: true, usage: 'SETNX key value', run: (ctx, _s, args) => runSetNx(ctx, args) }),
  spec('getset', { arity: 3, write: true, denyOom: true, usage: 'GETSET key value', run: (ctx, _s, args) => runGetSet(ctx, args) }),
  spec('type', {
    arity: 2,
    write: false,
    usage: 'TYPE key',
    // exists(), not get(): TYPE does not count as a use (Redis's LOOKUP_NOTOUCH).
    run: (ctx, _s, args) => then(ctx.backend.exists([args[1] as ByteString]), (n) => ({ t: 'status', s: n > 0 ? 'string' : 'none' })),
  }),
  spec('touch', { arity: -2, write: false, lastKey: -1, usage: 'TOUCH key [key ...]', run: (ctx, _s, args) => runTouch(ctx, args.slice(1)) }),
  spec('lcs', {
    arity: -3,
    write: false,
    lastKey: 2,
    usage: 'LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]',
    run: (ctx, _s, args) => runLcs(ctx, args),
  }),
];
