import type http from 'node:http';
import type { ChangeEvent, ChangePage, ChangeQuery } from '../../backend/types.js';
import { changesCommand, changesReply } from '../../commands/changes-command.js';
import { executeSpec } from '../../commands/execute.js';
import { andThen } from '../../commands/maybe.js';
import type { CommandContext, CommandSpec, Session } from '../../commands/types.js';
import { internalError, KvError } from '../../errors.js';
import type { ByteString } from '../../store/bytes.js';
import { encodeKeyPath } from './http-keys.js';
import { parseQuery, sendError, sendJson } from './http-replies.js';
import type { HttpConnection } from './http-connection.js';

/**
 * Change notifications over HTTP (docs/HTTP.md §6), on the one watch facility
 * (Backend.changes, which CHANGES gives over TCP): a long-poll on a key
 * (`?wait=…&index=…`), a long-poll on a prefix (`/v1/changes`), and a Server-Sent Events
 * stream of a prefix's changes.
 */

/** The longest long-poll (Consul's is 10 minutes). */
export const MAX_WAIT_MS = 5 * 60_000;
/** An SSE watcher that has this many bytes not yet taken by its socket is dropped, with a last event saying why. */
export const SSE_MAX_PENDING_BYTES = 1024 * 1024;
/** A dropped SSE watcher gets this long to take what it is owed and the last event, then its connection is cut. */
export const SSE_DROP_GRACE_MS = 10_000;
/** An SSE stream sends a comment this often, so that proxies and clients see it alive. */
export const SSE_HEARTBEAT_MS = 15_000;

/** `wait=` as Consul takes it: `30s`, `500ms`, `2m`, or plain seconds; capped at MAX_WAIT_MS. */
export function parseWait(raw: string | undefined): number | KvError | null {
  if (raw === undefined) return null;
  const m = /^(\d{1,9})(ms|s|m)?$/.exec(raw);
  if (m === null) return new KvError('BAD_REQUEST', 'wait must be a duration: 500ms, 30s, 2m (or plain seconds)');
  const n = Number(m[1]);
  const ms = m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000;
  return Math.min(ms, MAX_WAIT_MS);
}

function parseRevision(raw: string | undefined, name: string): number | KvError {
  if (raw === undefined || raw === '') return 0;
  if (!/^(0|[1-9][0-9]{0,15})$/.test(raw)) return new KvError('BAD_REQUEST', `${name} must be a version (a whole number, as ETag and X-Dualkv-Revision give it)`);
  return Number(raw);
}

/** Ends the wait when the client goes away, so that a vanished watcher holds nothing. */
function abortOnClose(req: http.IncomingMessage, res: http.ServerResponse): AbortSignal {
  const ac = new AbortController();
  res.on('close', () => ac.abort());
  req.on('aborted', () => ac.abort());
  return ac.signal;
}

/**
 * GET /v1/kv/{key}?wait=30s&index=V: answers once the key's version is not V (at once when
 * it already is not), or after the wait, with the key as a plain GET gives it.
 */
export async function waitForKey(ctx: CommandContext, req: http.IncomingMessage, res: http.ServerResponse, key: ByteString, params: Map<string, string>): Promise<KvError | null> {
  const waitMs = parseWait(params.get('wait'));
  if (waitMs instanceof KvError) return waitMs;
  const index = parseRevision(params.get('index'), 'index');
  if (index instanceof KvError) return index;
  if (waitMs === null || waitMs === 0) return null;
  const current = await ctx.backend.get(key);
  if ((current?.version ?? 0) !== index) return null;
  // The version is the server-wide revision: a change of this key after it is a change after `index`.
  await ctx.backend.changes(index, { match: (k) => k === key, limit: 1, waitMs, signal: abortOnClose(req, res) });
  return null;
}

function changeJson(e: ChangeEvent): Record<string, string> {
  return { op: e.op, key: encodeKeyPath(e.key), version: String(e.version) };
}

function pageJson(page: ChangePage): Record<string, unknown> {
  return { changes: page.events.map(changeJson), revision: String(page.revision), compacted: page.compacted };
}

/** GET /v1/changes?prefix=P&since=R&limit=N[&wait=30s]; with `Accept: text/event-stream`, a stream of them. */
export async function changesRoute(ctx: CommandContext, conn: HttpConnection, req: http.IncomingMessage, res: http.ServerResponse, query: string): Promise<void> {
  const session = conn.session;
  const params = parseQuery(query);
  if (params === null) return sendError(res, new KvError('BAD_REQUEST', 'a % in the query is not followed by two hex digits (docs/HTTP.md §2)'));
  if (req.method !== 'GET') {
    res.setHeader('Allow', 'GET');
    return sendError(res, new KvError('METHOD_NOT_ALLOWED', `${req.method ?? ''} is not allowed here; use GET`));
  }
  const lastEventId = req.headers['last-event-id'];
  const since = parseRevision(params.get('since') ?? (typeof lastEventId === 'string' ? lastEventId : undefined), 'since');
  if (since instanceof KvError) return sendError(res, since);
  const rawLimit = params.get('limit');
  if (rawLimit !== undefined && !/^[1-9][0-9]{0,3}$/.test(rawLimit)) return sendError(res, new KvError('BAD_REQUEST', 'limit must be a whole number from 1 to 1000'));
  const limit = Math.min(Number(rawLimit ?? 100), 1000);
  const prefix = params.get('prefix') ?? '';
  const match = prefix === '' ? null : (k: ByteString) => k.startsWith(prefix);
  if ((req.headers.accept ?? '').includes('text/event-stream')) return stream(ctx, req, res, conn, since, { match, limit, waitMs: 0 });
  const waitMs = parseWait(params.get('wait'));
  if (waitMs instanceof KvError) return sendError(res, waitMs);
  const got = await changesCommandRun(ctx, session, since, { match, limit, waitMs: waitMs ?? 0, signal: abortOnClose(req, res) });
  if (got instanceof KvError) return sendError(res, got);
  if (!res.writableEnded && !res.destroyed) sendJson(res, 200, pageJson(got), false, { 'X-Dualkv-Revision': String(got.revision) });
}

/**
 * One page of changes, run as CHANGES runs over TCP: the table's checks, the op line and the
 * INFO and /metrics counters, with the request's end to stop the wait.
 */
async function changesCommandRun(ctx: CommandContext, session: Session, since: number, query: ChangeQuery): Promise<ChangePage | KvError> {
  let page: ChangePage | null = null;
  const spec: CommandSpec = {
    ...changesCommand,
    run: (c) => andThen(c.backend.changes(since, query), (p) => ((page = p), changesReply(p))),
  };
  const r = await executeSpec(ctx, session, spec, ['CHANGES', String(since)]);
  if (r.t === 'error') return r.err;
  return page ?? internalError(undefined, 'CHANGES answered without a page');
}

/** The SSE stream: every change from `since` on, as `id: version`, `event: op`, `data: {…}`. */
async function stream(ctx: CommandContext, req: http.IncomingMessage, res: http.ServerResponse, conn: HttpConnection, since: number, query: ChangeQuery): Promise<void> {
  // The opening page is one CHANGES through the table (checks, op line, counters), asked before
  // the 200: a backend that refuses watching (README "Guarantees by backend") gets its error as
  // the status. The pages after it are the same watch going on, not commands of their own.
  const first = await changesCommandRun(ctx, conn.session, since, query);
  if (first instanceof KvError) return sendError(res, first);
  res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
  res.write(': dualkv change stream (docs/HTTP.md §6)\n\n');
  const signal = abortOnClose(req, res);
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), SSE_HEARTBEAT_MS);
  heartbeat.unref();
  let at = since;
  let next: ChangePage | null = first;
  try {
    while (!signal.aborted) {
      const page = next ?? (await ctx.backend.changes(at, { ...query, waitMs: 60_000, signal }));
      next = null;
      if (signal.aborted) break;
      if (page.compacted) {
        res.end(`event: compacted\ndata: ${JSON.stringify({ since: String(at), message: 'the history no longer reaches back that far: read the keys again, then watch from the revision their listing gives' })}\n\n`);
        return;
      }
      for (const e of page.events) res.write(`id: ${e.version}\nevent: ${e.op}\ndata: ${JSON.stringify(changeJson(e))}\n\n`);
      conn.changed();
      at = page.revision;
      // A reader too slow for the changes is dropped rather than held in memory without bound.
      if (res.writableLength > SSE_MAX_PENDING_BYTES) {
        // The last event says why, and where to go on from; a client that takes nothing for SSE_DROP_GRACE_MS is cut.
        res.end(`event: dropped\ndata: ${JSON.stringify({ reason: `over ${SSE_MAX_PENDING_BYTES} bytes of events not taken by the client`, revision: String(at) })}\n\n`);
        setTimeout(() => res.destroy(), SSE_DROP_GRACE_MS).unref();
        return;
      }
    }
  } finally {
    clearInterval(heartbeat);
  }
}
