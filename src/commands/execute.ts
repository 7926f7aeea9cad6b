import { performance } from 'node:perf_hooks';
import { KvError } from '../errors.js';
import { errorReply, isNotFound, type Reply } from '../protocol/reply.js';
import { describeKey, type ByteString } from '../store/bytes.js';
import { dispatchCommand, lookupCommand } from './table.js';
import type { CommandContext, CommandSpec, Session } from './types.js';

/**
 * Runs one command for a front-end and accounts for it: the per-command counters
 * and, unless --no-log-ops, one op line with the command (`unknown` for one not
 * in the table), the key (escaped and shortened), the value size (never the
 * value), the outcome and the latency.
 */
export function executeCommand(ctx: CommandContext, session: Session, args: ByteString[]): Reply | Promise<Reply> {
  const start = performance.now();
  const spec = lookupCommand(args[0] as string);
  const reply = dispatchCommand(ctx, session, spec, args);
  if (reply instanceof Promise) {
    return reply.then(
      (r) => account(ctx, session, spec, args, r, start),
      (err: unknown) => {
        if (!(err instanceof KvError)) ctx.reportInternalError(err, spec?.name ?? 'unknown');
        return account(ctx, session, spec, args, errorReply(asKvError(err)), start);
      },
    );
  }
  return account(ctx, session, spec, args, reply, start);
}

/** A failure from durability (the log) as the error the client gets: never an acknowledgement. */
function asKvError(err: unknown): KvError {
  return err instanceof KvError ? err : new KvError('SERVER', 'the write could not be made durable; see the server log', { cause: err });
}

function account(
  ctx: CommandContext,
  session: Session,
  spec: CommandSpec | undefined,
  args: ByteString[],
  reply: Reply,
  start: number,
): Reply {
  const us = Math.round((performance.now() - start) * 1000);
  const name = spec ? spec.name : 'unknown';
  const failed = reply.t === 'error';
  ctx.stats.countCommand(name, failed, us);
  const log = session.opLog;
  if (log === null) return reply;
  const key = spec && spec.firstKey > 0 && args.length > spec.firstKey ? describeKey(args[spec.firstKey] as string) : undefined;
  // The word after the key is a value only for single-key writes (SET, PUT); for DEL it is another key.
  const vsize =
    reply.t === 'bulk' ? reply.v.length : spec?.write && spec.lastKey === 1 && args.length > 2 ? (args[2] as string).length : undefined;
  const outcome = failed ? 'error' : isNotFound(reply) ? 'not_found' : 'ok';
  // An unknown command's name stays out of the log: it may be a password typed at the wrong prompt.
  log.write(spec ? name.toUpperCase() : 'unknown', key, vsize, outcome, failed ? reply.err.code : undefined, us);
  return reply;
}
