import type { Backend, MaybePromise } from '../backend/types.js';
import { KvError } from '../errors.js';
import { errorReply, NIL, OK, type Reply } from '../protocol/reply.js';
import type { ByteString } from '../store/bytes.js';
import { notInteger, parseSafeInteger } from './expiry-args.js';
import { compileGlob } from './glob.js';
import { valueTooLarge } from './keyspace.js';
import { all, andThen as then } from './maybe.js';
import { arityError } from './server-commands.js';
import type { CommandContext, CommandSpec } from './types.js';
import { wallClockMs } from './wall-clock.js';

/**
 * The commands over several keys, or over the whole keyspace, as Redis 7 answers them:
 * MGET, MSET, MSETNX, RENAME, RENAMENX, COPY, UNLINK, RANDOMKEY, FLUSHDB, FLUSHALL,
 * SCAN, KEYS, and TIME. A command that writes several keys does it in one
 * Backend.atomically() unit, so that no client sees half of it and recovery applies
 * all of it or none.
 */

const syntaxError = (): Reply => errorReply(new KvError('SYNTAX', 'syntax error'));
const int = (n: number): Reply => ({ t: 'int', n });
const bulk = (v: ByteString): Reply => ({ t: 'bulk', v });

/** Stores each pair in `b`, with no expiry (MSET clears a TTL, as SET does). */
function putPairs(b: Backend, args: readonly ByteString[]): MaybePromise<unknown> {
  const writes: Array<MaybePromise<number>> = [];
  for (let i = 1; i < args.length; i += 2) writes.push(b.put(args[i] as ByteString, args[i + 1] as ByteString));
  return all(writes);
}

function runMset(ctx: CommandContext, args: ByteString[], onlyIfNone: boolean): MaybePromise<Reply> {
  if (args.length % 2 === 0) return arityError(onlyIfNone ? 'msetnx' : 'mset');
  for (let i = 2; i < args.length; i += 2) {
    const tooLarge = valueTooLarge(ctx, args[i] as ByteString);
    if (tooLarge) return tooLarge;
  }
  return ctx.backend.atomically((b) => {
    if (!onlyIfNone) return then(putPairs(b, args), () => OK);
    const keys = args.filter((_, i) => i % 2 === 1);
    return then(b.exists(keys), (n) => (n > 0 ? int(0) : then(putPairs(b, args), () => int(1))));
  });
}

/**
 * RENAME and RENAMENX; COPY with `copy`. The value and its expiry go to `dst` as a new
 * write (a new version); RENAME then deletes `src`.
 */
function runMove(ctx: CommandContext, src: ByteString, dst: ByteString, mode: 'rename' | 'renamenx' | 'copy', replace: boolean): MaybePromise<Reply> {
  return ctx.backend.atomically((b) =>
    then(b.get(src), (e) => {
      if (e === undefined) return mode === 'copy' ? int(0) : errorReply(new KvError('NO_SUCH_KEY', 'no such key'));
      if (src === dst) {
        if (mode === 'copy') return errorReply(new KvError('SYNTAX', 'source and destination objects are the same'));
        return mode === 'rename' ? OK : int(0);
      }
      const mayReplace = mode === 'rename' || replace;
      return then(
        b.update(dst, (cur) =>
          cur !== undefined && !mayReplace ? { change: { kind: 'none' }, result: false } : { change: { kind: 'put', value: e.value, expiresAt: e.expiresAt }, result: true },
        ),
        ({ result: moved }) => {
          if (!moved) return int(0);
          if (mode === 'copy') return int(1);
          return then(b.delete([src]), () => (mode === 'rename' ? OK : int(1)));
        },
      );
    }),
  );
}

function runCopy(ctx: CommandContext, args: ByteString[]): MaybePromise<Reply> {
  let replace = false;
  for (let i = 3; i < args.length; i++) {
    const opt = (args[i] as string).toUpperCase();
    if (opt === 'REPLACE') replace = true;
    else if (opt === 'DB' && i + 1 < args.length) {
      const db = parseSafeInteger(args[++i] as string);
      if (db === null) return errorReply(notInteger());
      if (db !== 0) return errorReply(new KvError('NOT_SUPPORTED', 'DB index is out of range (dualkv has one database, 0)'));
    } else return syntaxError();
  }
  return runMove(ctx, args[1] as ByteString, args[2] as ByteString, 'copy', replace);
}

function runFlush(ctx: CommandContext, args: ByteString[]): MaybePromise<Reply> {
  // ASYNC and SYNC both free the keys at once here: V8 collects the old values as it goes.
  if (args.length > 2) return syntaxError();
  if (args.length === 2) {
    const mode = (args[1] as string).toUpperCase();
    if (mode !== 'ASYNC' && mode !== 'SYNC') return syntaxError();
  }
  return then(ctx.backend.flush(), () => OK);
}

/** SCAN's cursor: "0", or a cursor a page gave (Redis: an unsigned 64-bit number). */
const CURSOR = /^[0-9]{1,20}$/;
const MAX_CURSOR = 18446744073709551615n;

function runScan(ctx: CommandContext, args: ByteString[]): MaybePromise<Reply> {
  const given = args[1] as string;
  if (!CURSOR.test(given) || BigInt(given) > MAX_CURSOR) return errorReply(new KvError('INVALID_CURSOR', 'invalid cursor'));
  const cursor = String(BigInt(given));
  let count = 10;
  let match: ((k: ByteString) => boolean) | null = null;
  let type: string | null = null;
  for (let i = 2; i < args.length; i += 2) {
    if (i + 1 >= args.length) return syntaxError();
    const opt = (args[i] as string).toUpperCase();
    const v = args[i + 1] as string;
    if (opt === 'COUNT') {
      const n = parseSafeInteger(v);
      if (n === null) return errorReply(notInteger());
      if (n < 1) return syntaxError();
      count = n;
    } else if (opt === 'MATCH') {
      // `*` matches every key: no need to run the matcher on each.
      match = v === '*' ? null : compileGlob(v);
    } else if (opt === 'TYPE') {
      type = v.toLowerCase();
    } else return syntaxError();
  }
  // Every key holds a string: TYPE anything else walks the keys and returns none, as Redis would.
  const none = type !== null && type !== 'string';
  const page = ctx.backend.scan(cursor, { count, match: none ? () => false : match });
  return then(page, (p) => {
    if (p === null) {
      return errorReply(
        new KvError(
          'INVALID_CURSOR',
          'invalid cursor: no SCAN is open under it (it finished, or was forgotten after many newer ones); start again from 0',
        ),
      );
    }
    return { t: 'keys', cursor: p.cursor, keys: p.keys };
  });
}

function runKeys(ctx: CommandContext, args: ByteString[]): MaybePromise<Reply> {
  const limit = ctx.limits.keysLimit;
  if (limit <= 0) return keysReply(ctx, args);
  let size: MaybePromise<number>;
  try {
    size = ctx.backend.dbsize();
  } catch (err) {
    // Where DBSIZE is refused (inside a remote backend's transaction), KEYS answers for itself: its own refusal, not DBSIZE's.
    if (err instanceof KvError && err.code === 'NOT_SUPPORTED') return keysReply(ctx, args);
    throw err;
  }
  return then(size, (n) => {
    if (n > limit) {
      return errorReply(
        new KvError(
          'NOT_SUPPORTED',
          `KEYS would walk ${n} keys, more than --keys-limit (${limit}) allows: every client waits while it runs. Use SCAN, or raise --keys-limit (0: no limit)`,
        ),
      );
    }
    return keysReply(ctx, args);
  });
}

function keysReply(ctx: CommandContext, args: ByteString[]): MaybePromise<Reply> {
  const pattern = args[1] as string;
  return then(ctx.backend.keys(pattern === '*' ? null : compileGlob(pattern)), (keys) => ({ t: 'keys', cursor: null, keys }) satisfies Reply);
}

/** TIME: the wall clock, to the microsecond, as [seconds, microseconds]. */
function runTime(): Reply {
  const us = Math.floor(wallClockMs() * 1000);
  return { t: 'array', items: [bulk(String(Math.floor(us / 1e6))), bulk(String(us % 1e6))] };
}

interface Shape {
  readonly arity: number;
  readonly write?: boolean;
  readonly denyOom?: boolean;
  readonly keys?: readonly [first: number, last: number, step?: number];
  readonly usage: string;
  readonly run: CommandSpec['run'];
}

function spec(name: string, s: Shape): CommandSpec {
  const [firstKey, lastKey, keyStep] = s.keys ?? [0, 0];
  return {
    name,
    arity: s.arity,
    write: s.write ?? false,
    denyOom: s.denyOom,
    firstKey,
    lastKey,
    keyStep,
    group: 'keyspace',
    usage: s.usage,
    run: s.run,
  };
}

export const multiKeyCommands: CommandSpec[] = [
  spec('mget', {
    arity: -2,
    keys: [1, -1],
    usage: 'MGET key [key ...]',
    // One unit: a remote backend reads every key at one point in time (README "Guarantees by backend"), so an MSET is never seen half done.
    run: (ctx, _s, args) =>
      then(
        ctx.backend.atomically((b) => all(args.slice(1).map((k) => b.get(k)))),
        (es) => ({ t: 'array', items: es.map((e) => (e ? bulk(e.value) : NIL)) }) satisfies Reply,
      ),
  }),
  spec('mset', { arity: -3, write: true, denyOom: true, keys: [1, -1, 2], usage: 'MSET key value [key value ...]', run: (ctx, _s, args) => runMset(ctx, args, false) }),
  spec('msetnx', { arity: -3, write: true, denyOom: true, keys: [1, -1, 2], usage: 'MSETNX key value [key value ...]', run: (ctx, _s, args) => runMset(ctx, args, true) }),
  spec('rename', { arity: 3, write: true, keys: [1, 2], usage: 'RENAME key newkey', run: (ctx, _s, args) => runMove(ctx, args[1] as ByteString, args[2] as ByteString, 'rename', true) }),
  spec('renamenx', { arity: 3, write: true, keys: [1, 2], usage: 'RENAMENX key newkey', run: (ctx, _s, args) => runMove(ctx, args[1] as ByteString, args[2] as ByteString, 'renamenx', false) }),
  spec('copy', { arity: -3, write: true, denyOom: true, keys: [1, 2], usage: 'COPY source destination [DB 0] [REPLACE]', run: (ctx, _s, args) => runCopy(ctx, args) }),
  spec('unlink', {
    arity: -2,
    write: true,
    keys: [1, -1],
    usage: 'UNLINK key [key ...]',
    run: (ctx, _s, args) => then(ctx.backend.delete(args.slice(1)), (n) => ({ t: 'deleted', n, of: args.length - 1 }) satisfies Reply),
  }),
  spec('randomkey', { arity: 1, usage: 'RANDOMKEY', run: (ctx) => then(ctx.backend.randomKey(), (k) => (k === undefined ? NIL : bulk(k))) }),
  spec('flushdb', { arity: -1, write: true, usage: 'FLUSHDB [ASYNC|SYNC]', run: (ctx, _s, args) => runFlush(ctx, args) }),
  spec('flushall', { arity: -1, write: true, usage: 'FLUSHALL [ASYNC|SYNC]', run: (ctx, _s, args) => runFlush(ctx, args) }),
  spec('scan', { arity: -2, usage: 'SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]', run: (ctx, _s, args) => runScan(ctx, args) }),
  spec('keys', { arity: 2, usage: 'KEYS pattern', run: (ctx, _s, args) => runKeys(ctx, args) }),
  { ...spec('time', { arity: 1, usage: 'TIME', run: () => runTime() }), group: 'server' },
];
