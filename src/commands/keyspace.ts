import { KvError } from '../errors.js';
import { errorReply, NIL, OK, type Reply } from '../protocol/reply.js';
import type { ByteString } from '../store/bytes.js';
import type { WriteResult } from '../store/store.js';
import type { CommandContext, CommandSpec } from './types.js';

const ALL = ['text', 'resp', 'udp'] as const;

function afterWrite(result: WriteResult, reply: Reply): Reply | Promise<Reply> {
  return result.durable === undefined ? reply : result.durable.then(() => reply);
}

function valueTooLarge(ctx: CommandContext, value: ByteString): Reply | null {
  if (value.length <= ctx.limits.maxValueSize) return null;
  return errorReply(
    new KvError(
      'VALUE_TOO_LARGE',
      `value of ${value.length} bytes is over the limit of ${ctx.limits.maxValueSize} bytes (raise --max-value-size)`,
    ),
  );
}

const SET_TTL_OPTIONS = new Set(['EX', 'PX', 'EXAT', 'PXAT', 'KEEPTTL']);

/** SET key value [NX|XX] [GET], as Redis 7 answers it. TTL options are not supported yet. */
function runSet(ctx: CommandContext, args: ByteString[]): Reply | Promise<Reply> {
  const key = args[1] as ByteString;
  const value = args[2] as ByteString;
  const tooLarge = valueTooLarge(ctx, value);
  if (tooLarge) return tooLarge;
  let nx = false;
  let xx = false;
  let get = false;
  for (let i = 3; i < args.length; i++) {
    const opt = (args[i] as string).toUpperCase();
    if (opt === 'NX' && !xx) nx = true;
    else if (opt === 'XX' && !nx) xx = true;
    else if (opt === 'GET') get = true;
    else if (SET_TTL_OPTIONS.has(opt)) {
      return errorReply(new KvError('NOT_SUPPORTED', `SET option ${opt} is not supported: dualkv has no key expiry yet`));
    } else return errorReply(new KvError('SYNTAX', 'syntax error'));
  }
  if (args.length === 3) return afterWrite(ctx.store.put(key, value), OK);
  const old = ctx.store.get(key);
  const prior: Reply = get ? (old === undefined ? NIL : { t: 'bulk', v: old }) : OK;
  if ((nx && old !== undefined) || (xx && old === undefined)) return get ? prior : NIL;
  return afterWrite(ctx.store.put(key, value), prior);
}

export const keyspaceCommands: CommandSpec[] = [
  {
    name: 'get',
    arity: 2,
    write: false,
    firstKey: 1,
    lastKey: 1,
    dialects: ALL,
    usage: 'GET key',
    run(ctx, _s, args) {
      const v = ctx.store.get(args[1] as ByteString);
      return v === undefined ? NIL : { t: 'bulk', v };
    },
  },
  {
    name: 'set',
    arity: -3,
    write: true,
    denyOom: true,
    firstKey: 1,
    lastKey: 1,
    dialects: ALL,
    usage: 'SET key value [NX|XX] [GET]',
    run: (ctx, _s, args) => runSet(ctx, args),
  },
  {
    name: 'put',
    arity: 3,
    write: true,
    denyOom: true,
    firstKey: 1,
    lastKey: 1,
    dialects: ALL,
    usage: 'PUT key value',
    run(ctx, _s, args) {
      const value = args[2] as ByteString;
      return valueTooLarge(ctx, value) ?? afterWrite(ctx.store.put(args[1] as ByteString, value), OK);
    },
  },
  {
    name: 'del',
    arity: -2,
    write: true,
    firstKey: 1,
    lastKey: -1,
    dialects: ALL,
    usage: 'DEL key [key ...]',
    run(ctx, _s, args) {
      let n = 0;
      let wait: Promise<void> | undefined;
      for (let i = 1; i < args.length; i++) {
        const r = ctx.store.delete(args[i] as ByteString);
        if (r.changed) n++;
        if (r.durable) wait = r.durable; // records are durable in order: the last covers the rest
      }
      const reply: Reply = { t: 'deleted', n, of: args.length - 1 };
      return wait === undefined ? reply : wait.then(() => reply);
    },
  },
  {
    name: 'exists',
    arity: -2,
    write: false,
    firstKey: 1,
    lastKey: -1,
    dialects: ALL,
    usage: 'EXISTS key [key ...]',
    run(ctx, _s, args) {
      let n = 0;
      for (let i = 1; i < args.length; i++) if (ctx.store.has(args[i] as ByteString)) n++;
      return { t: 'int', n };
    },
  },
  {
    name: 'dbsize',
    arity: 1,
    write: false,
    firstKey: 0,
    lastKey: 0,
    dialects: ALL,
    usage: 'DBSIZE',
    run: (ctx) => ({ t: 'int', n: ctx.store.size }),
  },
];
