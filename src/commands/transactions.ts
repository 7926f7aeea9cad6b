import { performance } from 'node:perf_hooks';
import { initialUser } from './access.js';
import type { Backend, MaybePromise } from '../backend/types.js';
import { KvError } from '../errors.js';
import { errorReply, OK, QUEUED, type Reply } from '../protocol/reply.js';
import { ARG_OVERHEAD_BYTES } from '../protocol/sink.js';
import type { ByteString } from '../store/bytes.js';
import { accounted, feedMonitors, runChecked, stateRefusal } from './run.js';
import { andThen as then } from './maybe.js';
import type { CommandContext, CommandSpec, QueuedTransaction, Session } from './types.js';

/**
 * Transactions, with Redis 7's semantics (multi.c): MULTI starts queueing; each command
 * is checked (known, arity, key size) and answered QUEUED, or refused, which makes EXEC
 * refuse the whole transaction (EXECABORT). EXEC runs the queue as one
 * Backend.atomically() unit: nothing else runs between its commands, and its changes go
 * to the log as one record, so that recovery applies all of it or none. A command that
 * fails when run does not undo the others (no rollback, as in Redis). WATCH notes each
 * key's version; EXEC runs nothing and answers nil if any is different by then (written,
 * deleted or expired: versions make this exact).
 */

const stateError = (message: string): Reply => errorReply(new KvError('TRANSACTION_STATE', message));

/** A command read inside MULTI that passed its checks: queued for EXEC. */
export function queueCommand(ctx: CommandContext, session: Session, spec: CommandSpec, args: ByteString[]): Reply {
  const tx = session.multi as QueuedTransaction;
  let bytes = 0;
  // Counted as the stream session counts a request waiting to run.
  for (const a of args) bytes += a.length + ARG_OVERHEAD_BYTES;
  // The queue is held by the client until EXEC: bounded as one request is (--max-query-buffer).
  if (tx.bytes + bytes > ctx.limits.maxQueryBuffer) {
    tx.failed = true;
    return errorReply(
      new KvError(
        'QUERY_BUFFER_LIMIT',
        `the transaction would hold ${tx.bytes + bytes} bytes of queued commands, over the limit of ${ctx.limits.maxQueryBuffer} (--max-query-buffer); EXEC will refuse it`,
      ),
    );
  }
  tx.commands.push({ spec, args });
  tx.bytes += bytes;
  return QUEUED;
}

function runMulti(_ctx: CommandContext, session: Session): Reply {
  // Not a queueing error: the transaction goes on (Redis does not flag it either).
  if (session.multi !== null) return stateError('MULTI calls can not be nested');
  session.multi = { commands: [], bytes: 0, failed: false };
  return OK;
}

function runDiscard(_ctx: CommandContext, session: Session): Reply {
  if (session.multi === null) return stateError('DISCARD without MULTI');
  session.multi = null;
  session.watched = null;
  return OK;
}

function runExec(ctx: CommandContext, session: Session): MaybePromise<Reply> {
  const tx = session.multi;
  if (tx === null) return stateError('EXEC without MULTI');
  const watched = session.watched;
  // Whatever happens next, the transaction and the watches are over.
  session.multi = null;
  session.watched = null;
  if (tx.failed) return errorReply(new KvError('EXEC_ABORT', 'Transaction discarded because of previous errors.'));
  // The server's state is checked once, for the whole transaction, as Redis does for EXEC.
  let write = false;
  let denyOom = false;
  for (const { spec } of tx.commands) {
    write ||= spec.write;
    denyOom ||= spec.denyOom === true;
  }
  const refused = stateRefusal(ctx, write, denyOom);
  if (refused) {
    return errorReply(new KvError('EXEC_ABORT', `Transaction discarded because of: ${refused.respPrefix} ${refused.message}`, { cause: refused }));
  }
  // A remote backend may run the body more than once (an optimistic transaction reads, then commits, then
  // runs it for the replies): what a run counts and shows happens once, after the unit, for the last run.
  let ran: Array<{ spec: CommandSpec; args: ByteString[]; reply: Reply; ms: number }> = [];
  const result = ctx.backend.atomically((backend) => {
    ran = [];
    if (watched !== null && changedSince(backend, watched)) return { t: 'exec', items: null } satisfies Reply;
    const inner: CommandContext = backend === ctx.backend ? ctx : { ...ctx, backend };
    const items: Reply[] = [];
    for (const { spec, args } of tx.commands) {
      const start = performance.now();
      const r = runChecked(inner, session, spec, args);
      // The memory backend answers every command of a unit at once; a remote one runs EXEC over a view that does too.
      if (r instanceof Promise) throw new Error(`${spec.name} answered later inside EXEC`);
      ran.push({ spec, args, reply: r, ms: performance.now() - start });
      items.push(r);
    }
    return { t: 'exec', items } satisfies Reply;
  });
  return then(result, (reply) => {
    for (const { spec, args, reply: r, ms } of ran) {
      feedMonitors(ctx, session, spec, args, r);
      accounted(ctx, session, spec, args, r, performance.now() - ms);
    }
    return reply;
  });
}

/** Whether any watched key's version is not what it was at WATCH (a key that expired since reads as absent: 0). */
function changedSince(backend: Backend, watched: ReadonlyMap<ByteString, number>): boolean {
  for (const [key, version] of watched) {
    const e = backend.get(key);
    if (e instanceof Promise) throw new Error('a watched key was read later inside EXEC');
    if ((e?.version ?? 0) !== version) return true;
  }
  return false;
}

function runWatch(ctx: CommandContext, session: Session, args: ByteString[]): MaybePromise<Reply> {
  if (session.multi !== null) return stateError('WATCH inside MULTI is not allowed');
  const keys = args.slice(1);
  const watched = (session.watched ??= new Map());
  const reads: Array<MaybePromise<void>> = [];
  for (const key of keys) {
    // Watching a key twice keeps the first version, as Redis keeps the first watch.
    if (watched.has(key)) continue;
    const e = ctx.backend.get(key);
    if (e instanceof Promise) reads.push(e.then((got) => void watched.set(key, got?.version ?? 0)));
    else watched.set(key, e?.version ?? 0);
  }
  return reads.length === 0 ? OK : Promise.all(reads).then(() => OK);
}

function runUnwatch(_ctx: CommandContext, session: Session): Reply {
  session.watched = null;
  return OK;
}

/**
 * RESET, as Redis 7 (networking.c, clearClientConnectionState): the connection is as if
 * new. The transaction and the watches go, MONITOR stops, replies are on again, the
 * protocol is RESP2, the name is cleared. Answers `+RESET`.
 */
function runReset(ctx: CommandContext, session: Session): Reply {
  session.multi = null;
  session.watched = null;
  if (session.monitoring === true) {
    ctx.monitors?.remove(session);
    session.monitoring = false;
  }
  if (session.replyMode !== undefined) session.replyMode = 'on';
  if (session.protocol !== undefined) session.protocol = 2;
  session.name = '';
  // Redis 7: RESET authenticates the connection as `default` again, which needs AUTH when credentials are configured.
  session.user = initialUser(ctx);
  return RESET;
}

const RESET: Reply = { t: 'status', s: 'RESET' };

const control = (name: string, arity: number, usage: string, run: CommandSpec['run'], firstKey = 0, lastKey = 0, runsInMulti = true): CommandSpec => ({
  name,
  arity,
  write: false,
  firstKey,
  lastKey,
  group: 'transaction',
  usage,
  runsInMulti,
  run,
});

export const transactionCommands: CommandSpec[] = [
  control('multi', 1, 'MULTI', runMulti),
  // A wrong number of words aborts the transaction (checkCommand), as Redis's rejectCommand does.
  { ...control('exec', 1, 'EXEC', runExec), abortsTransaction: true },
  control('discard', 1, 'DISCARD', runDiscard),
  control('watch', -2, 'WATCH key [key ...]', runWatch, 1, -1),
  // Queued like any command inside MULTI, as in Redis.
  control('unwatch', 1, 'UNWATCH', runUnwatch, 0, 0, false),
  { ...control('reset', 1, 'RESET', runReset), group: 'connection' },
];
