import { performance } from 'node:perf_hooks';
import { KvError } from '../errors.js';
import { rejectReply, type Reply } from '../protocol/reply.js';
import type { ByteString } from '../store/bytes.js';
import { accounted, feedMonitors } from './run.js';
import { checkCommand, dispatchCommand, lookupCommandFor } from './table.js';
import { queueCommand } from './transactions.js';
import type { CommandContext, CommandSpec, Session } from './types.js';

/** Redis's no-multi commands (SAVE, SHUTDOWN, MONITOR): refused while queueing, which aborts the transaction. */
function notInMulti(spec: CommandSpec): Reply | null {
  return spec.flags?.includes('no_multi') === true ? rejectReply(new KvError('TRANSACTION_STATE', 'Command not allowed inside a transaction')) : null;
}

/**
 * Runs one command for a front-end and accounts for it (src/commands/run.ts): the
 * per-command counters and, unless --no-log-ops, one op line. Inside MULTI a command
 * is checked and queued instead, and runs at EXEC.
 */
export function executeCommand(ctx: CommandContext, session: Session, args: ByteString[]): Reply | Promise<Reply> {
  const start = performance.now();
  const spec = lookupCommandFor(args);
  const conn = session.conn;
  if (conn !== undefined) {
    // Before it runs, as Redis: CLIENT LIST shows itself as the command its client runs.
    conn.lastActiveAt = start;
    if (spec !== undefined) conn.lastCommand = spec.name;
  }
  if (session.multi !== null && spec?.runsInMulti !== true) {
    const refused = checkCommand(ctx, session, spec, args) ?? notInMulti(spec as NonNullable<typeof spec>);
    if (refused) {
      // Redis (multi.c, flagTransaction): an error while queueing makes EXEC refuse the whole transaction.
      session.multi.failed = true;
      return accounted(ctx, session, spec, args, refused, start);
    }
    // Not shown to MONITOR nor counted yet: that happens when EXEC runs it, as in Redis.
    return queueCommand(ctx, session, spec as NonNullable<typeof spec>, args);
  }
  const reply = dispatchCommand(ctx, session, spec, args);
  feedMonitors(ctx, session, spec, args, reply);
  return accounted(ctx, session, spec, args, reply, start);
}

/**
 * Runs a command whose spec the front-end holds itself (the HTTP API's PUT), with the
 * same checks, MONITOR feed and accounting as one from the table. Never inside MULTI.
 */
export function executeSpec(ctx: CommandContext, session: Session, spec: CommandSpec, args: ByteString[]): Reply | Promise<Reply> {
  const start = performance.now();
  const reply = dispatchCommand(ctx, session, spec, args);
  feedMonitors(ctx, session, spec, args, reply);
  return accounted(ctx, session, spec, args, reply, start);
}
