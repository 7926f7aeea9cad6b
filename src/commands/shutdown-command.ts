import { KvError } from '../errors.js';
import { errorReply, OK, type Reply } from '../protocol/reply.js';
import type { CommandSpec } from './types.js';

/**
 * SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT], as Redis 7 takes it: the server stops as
 * on SIGTERM (in-flight commands finish, the log is flushed and synced, a final snapshot
 * is written when something changed) and the connection closes with no reply, which is
 * how clients such as redis-py tell that it worked. NOSAVE skips the final snapshot and
 * SAVE writes one even when nothing changed, as Redis distinguishes them; neither loses
 * an acknowledged write (the log holds them all, and the next start replays it). NOW and
 * FORCE are accepted: there are no replicas to wait for.
 */
export const shutdownCommand: CommandSpec = {
  name: 'shutdown',
  arity: -1,
  write: false,
  firstKey: 0,
  lastKey: 0,
  group: 'redis',
  usage: 'SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]',
  flags: ['admin', 'noscript', 'loading', 'stale', 'no_multi', 'allow_busy'],
  docs: { summary: 'Synchronously save the dataset to disk and then shut down the server', since: '1.0.0', group: 'server', complexity: 'O(N) when saving, where N is the total number of keys in all databases when saving data, otherwise O(1)' },
  run(ctx, session, args) {
    let save = false;
    let nosave = false;
    let abort = false;
    for (const a of args.slice(1)) {
      const opt = a.toUpperCase();
      if (opt === 'NOSAVE') nosave = true;
      else if (opt === 'SAVE') save = true;
      else if (opt === 'ABORT') abort = true;
      else if (opt !== 'NOW' && opt !== 'FORCE') return syntax();
    }
    if ((save && nosave) || (abort && args.length > 2)) return syntax();
    // A stop cannot be called back once it starts (Redis aborts one still waiting for replicas).
    if (abort) return errorReply(new KvError('SYNTAX', 'No shutdown in progress.'));
    if (ctx.requestShutdown === undefined) {
      return errorReply(new KvError('NOT_SUPPORTED', 'SHUTDOWN is not available here: this server runs embedded, and its host stops it'));
    }
    ctx.requestShutdown('SHUTDOWN', { finalSnapshot: nosave ? 'skip' : save ? 'force' : 'default' });
    // No reply, as Redis: the connection closes (a skipped reply, CLIENT REPLY's way).
    session.replyMode = 'skip';
    session.closing = true;
    return OK;
  },
};

function syntax(): Reply {
  return errorReply(new KvError('SYNTAX', 'syntax error'));
}
