import type { ChangePage } from '../backend/types.js';
import { KvError } from '../errors.js';
import { errorReply, type Reply } from '../protocol/reply.js';
import type { ByteString } from '../store/bytes.js';
import { notInteger, parseSafeInteger } from './expiry-args.js';
import { andThen as then } from './maybe.js';
import type { CommandSpec } from './types.js';

/** CHANGES answers at most this many changes at once, and waits at most this long (BLOCK). */
export const MAX_CHANGES = 1000;
export const MAX_BLOCK_MS = 5 * 60_000;

/**
 * CHANGES since [PREFIX p] [COUNT n] [BLOCK ms]: the watch facility over TCP (docs/PROTOCOL.md
 * §2.2; the HTTP API's long-poll and SSE stream read the same one, docs/HTTP.md §6). The
 * changes after revision `since` (a version GETVER gave, or 0), at once, or with BLOCK the
 * first ones within that many ms. Answers [revision to go on from, compacted 0|1,
 * [[op, key, version], …]]; compacted 1 means the history no longer reaches back to
 * `since`: read the keys again.
 */
export const changesCommand: CommandSpec = {
  name: 'changes',
  arity: -2,
  write: false,
  firstKey: 0,
  lastKey: 0,
  group: 'keyspace',
  usage: 'CHANGES since [PREFIX prefix] [COUNT count] [BLOCK milliseconds]',
  docs: { summary: 'Wait for and list the changes after a revision (dualkv)', since: '0.1.0', group: 'generic', complexity: 'O(N) in the changes looked at' },
  run(ctx, _s, args) {
    const since = parseSafeInteger(args[1] as string);
    if (since === null || since < 0) return errorReply(notInteger());
    let prefix: ByteString | null = null;
    let limit = 100;
    let waitMs = 0;
    for (let i = 2; i < args.length; i += 2) {
      const opt = (args[i] as string).toUpperCase();
      const v = args[i + 1];
      if (v === undefined) return syntax();
      if (opt === 'PREFIX') prefix = v;
      else if (opt === 'COUNT' || opt === 'BLOCK') {
        const n = parseSafeInteger(v);
        if (n === null || n < (opt === 'COUNT' ? 1 : 0)) return errorReply(notInteger());
        if (opt === 'COUNT') limit = Math.min(n, MAX_CHANGES);
        else waitMs = Math.min(n, MAX_BLOCK_MS);
      } else return syntax();
    }
    const p = prefix;
    try {
      return then(ctx.backend.changes(since, { match: p === null || p === '' ? null : (k) => k.startsWith(p), limit, waitMs }), changesReply);
    } catch (err) {
      if (err instanceof Error && err.name === 'WatchLimitError') {
        return errorReply(new KvError('NOT_SUPPORTED', `${err.message}: try again later, or without BLOCK`));
      }
      throw err;
    }
  },
};

export function changesReply(page: ChangePage): Reply {
  return {
    t: 'array',
    items: [
      { t: 'int', n: page.revision },
      { t: 'int', n: page.compacted ? 1 : 0 },
      { t: 'array', items: page.events.map((e) => ({ t: 'array', items: [{ t: 'bulk', v: e.op }, { t: 'bulk', v: e.key }, { t: 'int', n: e.version }] }) satisfies Reply) },
    ],
  };
}

function syntax(): Reply {
  return errorReply(new KvError('SYNTAX', 'syntax error'));
}
