import type { Change, Entry, MaybePromise } from '../backend/types.js';
import { NO_CHANGE } from '../backend/types.js';
import { KvError } from '../errors.js';
import { valueTooLargeError } from '../limits.js';
import { errorReply, NIL, OK, type Reply } from '../protocol/reply.js';
import type { ByteString } from '../store/bytes.js';
import { andThen as then } from './maybe.js';
import { expireTime, positiveExpiry } from './expiry-args.js';
import { expireAt, EXPIRY_UNITS, parseSetOptions, putUntil, syntaxError } from './set-options.js';
import type { CommandContext, CommandSpec } from './types.js';

/**
 * The keyspace commands, as Redis 7 (and Valkey, for IFEQ and DELIFEQ) answers them,
 * plus versions: GETVER, CAS, CAD. Each talks to ctx.backend only, and answers at
 * once or with a promise, as the backend does.
 */


const answerOk = (): Reply => OK;

function valueOrNil(v: ByteString | undefined): Reply {
  return v === undefined ? NIL : { t: 'bulk', v };
}

function bulkOrNil(e: Entry | undefined): Reply {
  return valueOrNil(e?.value);
}

export function valueTooLarge(ctx: CommandContext, value: ByteString): Reply | null {
  if (value.length <= ctx.limits.maxValueSize) return null;
  return errorReply(valueTooLargeError(value.length, ctx.limits.maxValueSize));
}

/** SET key value [NX|XX|IFEQ v] [GET] [EX s|PX ms|EXAT t|PXAT t|KEEPTTL], as Redis 7 and Valkey answer it. */
function runSet(ctx: CommandContext, args: ByteString[]): MaybePromise<Reply> {
  const key = args[1] as ByteString;
  const value = args[2] as ByteString;
  const tooLarge = valueTooLarge(ctx, value);
  if (tooLarge) return tooLarge;
  if (args.length === 3) return then(ctx.backend.put(key, value), answerOk);
  const o = parseSetOptions(ctx, args, 3, 'set', true);
  if (!('nx' in o)) return o;
  // SET k v EX n and kin: a blind write, as plain SET (a time already past deletes, below).
  const blind = !o.nx && !o.xx && !o.get && o.ifeq === undefined && typeof o.expiry === 'number' && o.expiry > o.now;
  if (blind && ctx.backend.putUntil !== undefined) return then(ctx.backend.putUntil(key, value, o.expiry as number), answerOk);
  const put = putUntil(value, o.expiry, o.now);
  return then(
    ctx.backend.update(key, (cur) => {
      const blocked = (o.nx && cur !== undefined) || (o.xx && cur === undefined) || (o.ifeq !== undefined && cur?.value !== o.ifeq);
      return { change: blocked ? NO_CHANGE : put, result: { blocked, old: cur } };
    }),
    ({ result }) => (o.get ? bulkOrNil(result.old) : result.blocked ? NIL : OK),
  );
}

/** SETEX / PSETEX key time value. */
function runSetWithTime(ctx: CommandContext, args: ByteString[], unit: 's' | 'ms', command: string): MaybePromise<Reply> {
  const value = args[3] as ByteString;
  const tooLarge = valueTooLarge(ctx, value);
  if (tooLarge) return tooLarge;
  const now = ctx.backend.now();
  const at = positiveExpiry(args[2] as string, unit, true, now, command);
  if (at instanceof KvError) return errorReply(at);
  const put = putUntil(value, at, now);
  return then(
    ctx.backend.update(args[1] as ByteString, () => ({ change: put, result: null })),
    answerOk,
  );
}

/**
 * GETEX key [EX s|PX ms|EXAT t|PXAT t|PERSIST], in Redis 7's order (t_string.c
 * getexCommand): the options' syntax first (one kind, which may repeat: the last
 * counts), then the key (a missing key is nil whatever the time), then the time.
 */
function runGetEx(ctx: CommandContext, args: ByteString[]): MaybePromise<Reply> {
  let persist = false;
  let timeOpt: string | null = null;
  let timeArg = '';
  for (let i = 2; i < args.length; i++) {
    const opt = (args[i] as string).toUpperCase();
    if (opt === 'PERSIST' && timeOpt === null) persist = true;
    else if (opt in EXPIRY_UNITS && i + 1 < args.length && !persist && (timeOpt === null || timeOpt === opt)) {
      timeOpt = opt;
      timeArg = args[++i] as string;
    } else return syntaxError();
  }
  const key = args[1] as ByteString;
  let change: Change = { kind: 'expire', expiresAt: 0 }; // PERSIST
  if (timeOpt !== null) {
    const u = EXPIRY_UNITS[timeOpt] as { unit: 's' | 'ms'; relative: boolean };
    const now = ctx.backend.now();
    const at = positiveExpiry(timeArg, u.unit, u.relative, now, 'getex');
    if (at instanceof KvError) return then(ctx.backend.get(key), (e) => (e === undefined ? NIL : errorReply(at)));
    change = expireAt(at, now);
  } else if (!persist) return then(ctx.backend.get(key), bulkOrNil);
  return then(
    ctx.backend.update(key, (cur) => ({
      // PERSIST on a key without an expiry changes nothing (and so not its version).
      change: cur === undefined || (persist && cur.expiresAt === 0) ? NO_CHANGE : change,
      result: cur,
    })),
    ({ result }) => bulkOrNil(result),
  );
}

/** EXPIRE / PEXPIRE / EXPIREAT / PEXPIREAT key time [NX|XX|GT|LT], as Redis 7's expireGenericCommand. */
function runExpire(ctx: CommandContext, args: ByteString[], unit: 's' | 'ms', relative: boolean, command: string): MaybePromise<Reply> {
  let nx = false;
  let xx = false;
  let gt = false;
  let lt = false;
  for (let i = 3; i < args.length; i++) {
    const opt = (args[i] as string).toUpperCase();
    if (opt === 'NX') nx = true;
    else if (opt === 'XX') xx = true;
    else if (opt === 'GT') gt = true;
    else if (opt === 'LT') lt = true;
    else return errorReply(new KvError('SYNTAX', `Unsupported option ${args[i] as string}`));
  }
  if (nx && (xx || gt || lt)) return errorReply(new KvError('SYNTAX', 'NX and XX, GT or LT options at the same time are not compatible'));
  if (gt && lt) return errorReply(new KvError('SYNTAX', 'GT and LT options at the same time are not compatible'));
  const now = ctx.backend.now();
  const when = expireTime(args[2] as string, unit, relative, now, command);
  if (when instanceof KvError) return errorReply(when);
  // A time not after now deletes the key; 0 would read as "no expiry", so it is made the earliest time there is.
  const expiresAt = when === 0 ? -1 : when;
  const change = expireAt(expiresAt, now);
  return then(
    ctx.backend.update(args[1] as ByteString, (cur) => {
      if (cur === undefined) return { change: NO_CHANGE, result: 0 };
      const current = cur.expiresAt; // 0: none, which GT and LT treat as an infinite TTL
      const refused =
        (nx && current !== 0) || (xx && current === 0) || (gt && (current === 0 || expiresAt <= current)) || (lt && current !== 0 && expiresAt >= current);
      return refused ? { change: NO_CHANGE, result: 0 } : { change, result: 1 };
    }),
    ({ result }) => ({ t: 'int', n: result }),
  );
}

/** TTL, PTTL, EXPIRETIME, PEXPIRETIME: -2 for a missing key, -1 for one without an expiry. */
function runTtl(ctx: CommandContext, key: ByteString, unit: 's' | 'ms', absolute: boolean): MaybePromise<Reply> {
  return then(ctx.backend.get(key), (e) => {
    if (e === undefined) return { t: 'int', n: -2 };
    if (e.expiresAt === 0) return { t: 'int', n: -1 };
    if (absolute) return { t: 'int', n: unit === 'ms' ? e.expiresAt : Math.floor((e.expiresAt + 500) / 1000) };
    const ms = Math.max(0, e.expiresAt - ctx.backend.now());
    return { t: 'int', n: unit === 'ms' ? ms : Math.floor((ms + 500) / 1000) };
  });
}

/** A version argument: an unsigned 64-bit integer. */
function parseVersion(s: string): number | null {
  if (!/^(?:0|[1-9][0-9]*)$/.test(s) || s.length > 20) return null;
  if (s.length <= 15) return Number(s);
  const b = BigInt(s);
  if (b > 18446744073709551615n) return null;
  // Versions stay below 2^53: a larger one names no version there is, and matches none.
  return b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : -1;
}

function badVersion(): Reply {
  return errorReply(new KvError('NOT_INTEGER', 'version is not an unsigned 64-bit integer'));
}

/** CAS key version value [EX s|PX ms|EXAT t|PXAT t|KEEPTTL]: set only while the key's version is still `version` (0: absent). */
function runCas(ctx: CommandContext, args: ByteString[]): MaybePromise<Reply> {
  const expected = parseVersion(args[2] as string);
  if (expected === null) return badVersion();
  const value = args[3] as ByteString;
  const tooLarge = valueTooLarge(ctx, value);
  if (tooLarge) return tooLarge;
  const o = parseSetOptions(ctx, args, 4, 'cas', false);
  if (!('nx' in o)) return o;
  const put = putUntil(value, o.expiry, o.now);
  return then(
    ctx.backend.update(args[1] as ByteString, (cur) => {
      const applied = (cur?.version ?? 0) === expected;
      return { change: applied ? put : NO_CHANGE, result: applied };
    }),
    ({ result, version }) => ({ t: 'cas', applied: result, version }),
  );
}

/** CAD key version: delete only while the key's version is still `version`. */
function runCad(ctx: CommandContext, args: ByteString[]): MaybePromise<Reply> {
  const expected = parseVersion(args[2] as string);
  if (expected === null) return badVersion();
  return then(
    ctx.backend.update(args[1] as ByteString, (cur) => {
      const applied = (cur?.version ?? 0) === expected;
      return { change: applied && cur !== undefined ? { kind: 'del' } : NO_CHANGE, result: applied };
    }),
    ({ result, version }) => ({ t: 'cas', applied: result, version }),
  );
}

type Shape = Pick<CommandSpec, 'arity' | 'write' | 'denyOom' | 'usage' | 'textUsage' | 'run' | 'flags' | 'acl' | 'keyFlags' | 'tips' | 'docs'> & {
  readonly lastKey?: number;
};

/** COMMAND DOCS' text, as Redis 7.0 has it for the same command. */
const doc = (summary: string, since: string, group: string, complexity = 'O(1)'): CommandSpec['docs'] => ({ summary, since, group, complexity });
const FAST = ['fast'] as const;

function spec(name: string, s: Shape): CommandSpec {
  return { name, firstKey: 1, lastKey: s.lastKey ?? 1, group: 'keyspace', ...s };
}

const expireSpec = (name: string, unit: 's' | 'ms', relative: boolean, usage: string, docs: CommandSpec['docs']): CommandSpec =>
  spec(name, { arity: -3, write: true, usage, flags: FAST, acl: ['keyspace'], docs, run: (ctx, _s, args) => runExpire(ctx, args, unit, relative, name) });

const ttlSpec = (name: string, unit: 's' | 'ms', absolute: boolean, docs: CommandSpec['docs']): CommandSpec =>
  spec(name, {
    arity: 2,
    write: false,
    usage: `${name.toUpperCase()} key`,
    flags: FAST,
    acl: ['keyspace'],
    tips: absolute ? undefined : ['nondeterministic_output'],
    docs,
    run: (ctx, _s, args) => runTtl(ctx, args[1] as ByteString, unit, absolute),
  });

export const keyspaceCommands: CommandSpec[] = [
  spec('get', {
    flags: FAST,
    acl: ['string'],
    docs: doc('Get the value of a key', '1.0.0', 'string'),
    arity: 2,
    write: false,
    usage: 'GET key',
    run: (ctx, _s, args) => then(ctx.backend.getValue(args[1] as ByteString), valueOrNil),
  }),
  spec('set', {
    acl: ['string'],
    keyFlags: ['RW', 'access', 'update', 'variable_flags'],
    docs: doc('Set the string value of a key', '1.0.0', 'string'),
    arity: -3,
    write: true,
    denyOom: true,
    usage: 'SET key value [NX|XX|IFEQ old] [GET] [EX s|PX ms|EXAT t|PXAT t|KEEPTTL]',
    textUsage: 'SET key value-to-end-of-line, or SET key "value" [NX|XX|IFEQ old] [GET] [EX s|PX ms|EXAT t|PXAT t|KEEPTTL]',
    run: (ctx, _s, args) => runSet(ctx, args),
  }),
  spec('put', {
    acl: ['string'],
    keyFlags: ['OW', 'update'],
    docs: doc('Set the string value of a key (dualkv)', '0.1.0', 'string'),
    arity: 3,
    write: true,
    denyOom: true,
    usage: 'PUT key value',
    textUsage: 'PUT key value-to-end-of-line',
    run(ctx, _s, args) {
      const value = args[2] as ByteString;
      return valueTooLarge(ctx, value) ?? then(ctx.backend.put(args[1] as ByteString, value), answerOk);
    },
  }),
  spec('setex', { acl: ['string'], keyFlags: ['OW', 'update'], docs: doc('Set the value and expiration of a key', '2.0.0', 'string'), arity: 4, write: true, denyOom: true, usage: 'SETEX key seconds value', textUsage: 'SETEX key seconds value-to-end-of-line', run: (ctx, _s, args) => runSetWithTime(ctx, args, 's', 'setex') }),
  spec('psetex', {
    acl: ['string'],
    keyFlags: ['OW', 'update'],
    docs: doc('Set the value and expiration in milliseconds of a key', '2.6.0', 'string'),
    arity: 4,
    write: true,
    denyOom: true,
    usage: 'PSETEX key milliseconds value',
    textUsage: 'PSETEX key milliseconds value-to-end-of-line',
    run: (ctx, _s, args) => runSetWithTime(ctx, args, 'ms', 'psetex'),
  }),
  spec('getex', { flags: FAST, acl: ['string'], keyFlags: ['RW', 'access', 'update'], docs: doc('Get the value of a key and optionally set its expiration', '6.2.0', 'string'), arity: -2, write: true, usage: 'GETEX key [EX s|PX ms|EXAT t|PXAT t|PERSIST]', run: (ctx, _s, args) => runGetEx(ctx, args) }),
  spec('getdel', {
    flags: FAST,
    acl: ['string'],
    keyFlags: ['RW', 'access', 'delete'],
    docs: doc('Get the value of a key and delete the key', '6.2.0', 'string'),
    arity: 2,
    write: true,
    usage: 'GETDEL key',
    run: (ctx, _s, args) =>
      then(
        ctx.backend.update(args[1] as ByteString, (cur) => ({ change: cur === undefined ? NO_CHANGE : { kind: 'del' }, result: cur })),
        ({ result }) => bulkOrNil(result),
      ),
  }),
  spec('del', {
    acl: ['keyspace'],
    keyFlags: ['RM', 'delete'],
    tips: ['request_policy:multi_shard', 'response_policy:agg_sum'],
    docs: doc('Delete a key', '1.0.0', 'generic', 'O(N) where N is the number of keys that will be removed.'),
    arity: -2,
    write: true,
    lastKey: -1,
    usage: 'DEL key [key ...]',
    run: (ctx, _s, args) => then(ctx.backend.delete(args.slice(1)), (n) => ({ t: 'deleted', n, of: args.length - 1 })),
  }),
  spec('delifeq', {
    flags: FAST,
    acl: ['keyspace'],
    keyFlags: ['RM', 'delete'],
    docs: doc('Delete a key if its value is the one given (Valkey)', '0.1.0', 'generic'),
    arity: 3,
    write: true,
    usage: 'DELIFEQ key value',
    run: (ctx, _s, args) =>
      then(
        ctx.backend.update(args[1] as ByteString, (cur) => {
          const match = cur !== undefined && cur.value === args[2];
          return { change: match ? { kind: 'del' } : NO_CHANGE, result: match ? 1 : 0 };
        }),
        ({ result }) => ({ t: 'int', n: result }),
      ),
  }),
  spec('exists', {
    flags: FAST,
    acl: ['keyspace'],
    keyFlags: ['RO'],
    tips: ['request_policy:multi_shard', 'response_policy:agg_sum'],
    docs: doc('Determine if a key exists', '1.0.0', 'generic', 'O(N) where N is the number of keys to check.'),
    arity: -2,
    write: false,
    lastKey: -1,
    usage: 'EXISTS key [key ...]',
    run: (ctx, _s, args) => then(ctx.backend.exists(args.slice(1)), (n) => ({ t: 'int', n })),
  }),
  expireSpec('expire', 's', true, 'EXPIRE key seconds [NX|XX|GT|LT]', doc("Set a key's time to live in seconds", '1.0.0', 'generic')),
  expireSpec('pexpire', 'ms', true, 'PEXPIRE key milliseconds [NX|XX|GT|LT]', doc("Set a key's time to live in milliseconds", '2.6.0', 'generic')),
  expireSpec('expireat', 's', false, 'EXPIREAT key unix-time-seconds [NX|XX|GT|LT]', doc('Set the expiration for a key as a UNIX timestamp', '1.2.0', 'generic')),
  expireSpec(
    'pexpireat',
    'ms',
    false,
    'PEXPIREAT key unix-time-milliseconds [NX|XX|GT|LT]',
    doc('Set the expiration for a key as a UNIX timestamp specified in milliseconds', '2.6.0', 'generic'),
  ),
  ttlSpec('ttl', 's', false, doc('Get the time to live for a key in seconds', '1.0.0', 'generic')),
  ttlSpec('pttl', 'ms', false, doc('Get the time to live for a key in milliseconds', '2.6.0', 'generic')),
  ttlSpec('expiretime', 's', true, doc('Get the expiration Unix timestamp for a key', '7.0.0', 'generic')),
  ttlSpec('pexpiretime', 'ms', true, doc('Get the expiration Unix timestamp for a key in milliseconds', '7.0.0', 'generic')),
  spec('persist', {
    flags: FAST,
    acl: ['keyspace'],
    docs: doc('Remove the expiration from a key', '2.2.0', 'generic'),
    arity: 2,
    write: true,
    usage: 'PERSIST key',
    run: (ctx, _s, args) =>
      then(
        ctx.backend.update(args[1] as ByteString, (cur) =>
          cur === undefined || cur.expiresAt === 0 ? { change: NO_CHANGE, result: 0 } : { change: { kind: 'expire', expiresAt: 0 }, result: 1 },
        ),
        ({ result }) => ({ t: 'int', n: result }),
      ),
  }),
  spec('getver', {
    flags: FAST,
    acl: ['string'],
    docs: doc('Get the value of a key and its version (dualkv)', '0.1.0', 'string'),
    arity: 2,
    write: false,
    usage: 'GETVER key',
    run: (ctx, _s, args) =>
      then(ctx.backend.get(args[1] as ByteString), (e) =>
        e === undefined ? NIL : { t: 'versioned', v: e.value, version: e.version, expiresAt: e.expiresAt },
      ),
  }),
  spec('cas', {
    acl: ['string'],
    docs: doc("Set a key's value if its version is the one given (dualkv)", '0.1.0', 'string'),
    arity: -4,
    write: true,
    denyOom: true,
    usage: 'CAS key version value [EX s|PX ms|EXAT t|PXAT t|KEEPTTL]',
    textUsage: 'CAS key version value-to-end-of-line, or CAS key version "value" [EX s|PX ms|EXAT t|PXAT t|KEEPTTL]',
    run: (ctx, _s, args) => runCas(ctx, args),
  }),
  spec('cad', { flags: FAST, acl: ['keyspace'], keyFlags: ['RM', 'delete'], docs: doc('Delete a key if its version is the one given (dualkv)', '0.1.0', 'generic'), arity: 3, write: true, usage: 'CAD key version', run: (ctx, _s, args) => runCad(ctx, args) }),
  {
    name: 'dbsize',
    arity: 1,
    write: false,
    firstKey: 0,
    lastKey: 0,
    group: 'keyspace',
    usage: 'DBSIZE',
    flags: FAST,
    acl: ['keyspace'],
    tips: ['request_policy:all_shards', 'response_policy:agg_sum'],
    docs: doc('Return the number of keys in the selected database', '1.0.0', 'server'),
    run: (ctx) => then(ctx.backend.dbsize(), (n) => ({ t: 'int', n })),
  },
];

