import { performance } from 'node:perf_hooks';
import { asKvError, internalError, KvError } from '../errors.js';
import { errorReply, isNotFound, type Reply } from '../protocol/reply.js';
import type { ByteString } from '../store/bytes.js';
import { commandFlags } from './command-info.js';
import type { CommandContext, CommandSpec, Session } from './types.js';

/**
 * Running a command that passed its checks, and accounting for it: what a front-end's
 * command and each command of an EXEC have in common. Knows nothing of the table, so
 * that the commands that run others (EXEC) can use it.
 */

/** What refuses a command now, from the server's state: writes while the log is failing, growth at the memory limit. */
export function stateRefusal(ctx: CommandContext, write: boolean, denyOom: boolean): KvError | null {
  if (write) {
    const blocked = ctx.backend.writeBlocker();
    if (blocked) return blocked;
  }
  return denyOom ? ctx.memory.writeRefusal() : null;
}

/** Runs a command that passed its checks. Never throws: every failure becomes an error reply. */
export function runChecked(ctx: CommandContext, session: Session, spec: CommandSpec, args: ByteString[]): Reply | Promise<Reply> {
  try {
    return spec.run(ctx, session, args);
  } catch (err) {
    if (err instanceof KvError) return errorReply(err);
    ctx.reportInternalError(err, spec.name);
    return errorReply(internalError(err));
  }
}

/** MONITOR: the one check every command pays while nobody watches. */
export function feedMonitors(ctx: CommandContext, session: Session, spec: CommandSpec | undefined, args: ByteString[], reply: Reply | Promise<Reply>): void {
  if (ctx.monitors?.active === true && spec !== undefined && shown(spec, reply)) {
    ctx.monitors.feed(session, spec.redact ? spec.redact(args) : args);
  }
}

/** Accounts for a reply once it is there. */
export function accounted(
  ctx: CommandContext,
  session: Session,
  spec: CommandSpec | undefined,
  args: ByteString[],
  reply: Reply | Promise<Reply>,
  start: number,
): Reply | Promise<Reply> {
  if (!(reply instanceof Promise)) return account(ctx, session, spec, args, reply, start);
  return reply.then(
    (r) => account(ctx, session, spec, args, r, start),
    (err: unknown) => {
      if (!(err instanceof KvError)) ctx.reportInternalError(err, spec?.name ?? 'unknown');
      return account(ctx, session, spec, args, errorReply(asKvError(err, 'the write could not be made durable')), start);
    },
  );
}

/**
 * Whether MONITOR shows a command: not one refused before it ran, nor an admin command
 * (Redis keeps those, CONFIG and CLIENT KILL among them, out of the feed).
 */
function shown(spec: CommandSpec, reply: Reply | Promise<Reply>): boolean {
  if (!(reply instanceof Promise) && reply.t === 'error' && reply.rejected === true) return false;
  const flags = commandFlags(spec);
  return !flags.includes('admin') && !flags.includes('skip_monitor');
}

/**
 * keyspace_hits and keyspace_misses for a command that reads keys: a miss is a key not
 * found (a null reply, TTL's -2, EXISTS counting fewer than it was given).
 */
function countLookups(ctx: CommandContext, spec: CommandSpec, args: ByteString[], reply: Reply): void {
  const stats = ctx.stats;
  const keys = spec.lastKey < 0 ? args.length - spec.firstKey : 1;
  if (reply.t === 'int' && keys > 1) {
    // EXISTS/TOUCH count keys: never past 2^53.
    const found = Number(reply.n);
    stats.keyspaceHits += found;
    stats.keyspaceMisses += keys - found;
  } else if (reply.t === 'array') {
    for (const item of reply.items) {
      if (item.t === 'nil') stats.keyspaceMisses++;
      else stats.keyspaceHits++;
    }
  } else if (isNotFound(reply) || (reply.t === 'int' && reply.n === -2)) {
    stats.keyspaceMisses++;
  } else {
    stats.keyspaceHits++;
  }
}


/** Command names as op lines show them, made once each (toUpperCase on every op was a measurable share of it). */
const UPPER_NAMES = new Map<string, string>();

function upperName(name: string): string {
  let upper = UPPER_NAMES.get(name);
  if (upper === undefined) {
    upper = name.toUpperCase();
    UPPER_NAMES.set(name, upper);
  }
  return upper;
}

/**
 * The per-command counters and, unless --no-log-ops, one op line with the command
 * (`unknown` for one not in the table), the key (escaped and shortened), the value
 * size (never the value), the outcome and the latency.
 */
function account(
  ctx: CommandContext,
  session: Session,
  spec: CommandSpec | undefined,
  args: ByteString[],
  reply: Reply,
  start: number,
): Reply {
  const end = performance.now();
  const us = Math.round((end - start) * 1000);
  const name = spec ? spec.name : 'unknown';
  const failed = reply.t === 'error';
  // Redis keeps no command counters for a command it does not have; errorstats counts it.
  if (spec !== undefined) ctx.stats.countCommand(name, session.transport, failed, us, failed && reply.rejected === true);
  if (failed) ctx.stats.countError(reply.err.respPrefix);
  else if (spec !== undefined && spec.firstKey > 0 && !spec.write) countLookups(ctx, spec, args, reply);
  const log = session.opLog;
  if (log === null) return reply;
  const key = spec && spec.firstKey > 0 && args.length > spec.firstKey ? args[spec.firstKey] : undefined;
  // The word after the key is a value only for single-key writes (SET, PUT); for DEL it is another key.
  const vsize =
    reply.t === 'bulk' ? reply.v.length : spec?.write && spec.lastKey === 1 && args.length > 2 ? (args[2] as string).length : undefined;
  const outcome = failed ? 'error' : isNotFound(reply) ? 'not_found' : 'ok';
  // An unknown command's name stays out of the log: it may be a password typed at the wrong prompt.
  log.write(spec ? upperName(name) : 'unknown', key, vsize, outcome, failed ? reply.err.code : undefined, us, end);
  return reply;
}
