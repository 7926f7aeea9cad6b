import type http from 'node:http';
import { executeCommand, executeSpec } from '../../commands/execute.js';
import type { CommandContext, Session } from '../../commands/types.js';
import { asKvError, KvError } from '../../errors.js';
import type { ByteString } from '../../store/bytes.js';
import { decodeKeyPath, encodeKeyPath } from './http-keys.js';
import { parseQuery, sendError, sendJson } from './http-replies.js';
import { HTTP_PUT } from './kv-commands.js';
import { waitForKey } from './watch-routes.js';
import type { HttpConnection } from './http-connection.js';
import { readBody } from './http-body.js';
import { valueTooLargeError } from '../../limits.js';

/**
 * The versioned API, /v1/kv (docs/HTTP.md §3): raw values, versions as ETags,
 * conditional writes, listing. Each request becomes one command of the table (or the
 * API's PUT), so it has the limits, op line and INFO counts of the same command over TCP.
 */

/** A listing page holds at most this many keys looked at (SCAN's COUNT), whatever `limit` asks. */
export const MAX_LIST_LIMIT = 1000;
const DEFAULT_LIST_LIMIT = 100;

const etag = (version: number): string => `"${version}"`;

/** The condition of If-Match / If-None-Match as the API's PUT takes it, or an error. */
function condition(req: http.IncomingMessage): string | KvError {
  const ifMatch = req.headers['if-match'];
  const ifNoneMatch = req.headers['if-none-match'];
  if (ifMatch !== undefined && ifNoneMatch !== undefined) return new KvError('BAD_REQUEST', 'give If-Match or If-None-Match, not both');
  if (ifNoneMatch !== undefined) return ifNoneMatch.trim() === '*' ? '*absent' : new KvError('BAD_REQUEST', 'If-None-Match takes only * (store only if the key does not exist)');
  if (ifMatch === undefined) return '';
  const v = ifMatch.trim();
  if (v === '*') return '*exists';
  const m = /^"(0|[1-9][0-9]{0,15})"$/.exec(v);
  if (m === null) return new KvError('BAD_REQUEST', 'If-Match takes one version in quotes, as the ETag gives it ("42"), or *');
  return m[1] as string;
}

/** An absolute expiry from `ttl` (seconds) or `ttl_ms`, or '' for none, or an error. */
function expiry(ctx: CommandContext, params: Map<string, string>): string | KvError {
  const s = params.get('ttl');
  const ms = params.get('ttl_ms');
  if (s !== undefined && ms !== undefined) return new KvError('BAD_REQUEST', 'give ttl (seconds) or ttl_ms, not both');
  const raw = s ?? ms;
  if (raw === undefined) return '';
  if (!/^[1-9][0-9]{0,14}$/.test(raw)) return new KvError('BAD_REQUEST', `${s !== undefined ? 'ttl' : 'ttl_ms'} must be a whole number above 0`);
  return String(ctx.backend.now() + Number(raw) * (s !== undefined ? 1000 : 1));
}

export function handleKv(ctx: CommandContext, conn: HttpConnection, req: http.IncomingMessage, res: http.ServerResponse, keyPart: string, query: string): void {
  void route(ctx, conn, req, res, keyPart, query).catch((err: unknown) => {
    if (!res.headersSent) sendError(res, asKvError(err));
  });
}

async function route(ctx: CommandContext, conn: HttpConnection, req: http.IncomingMessage, res: http.ServerResponse, keyPart: string, query: string): Promise<void> {
  const session = conn.session;
  const params = parseQuery(query);
  if (params === null) return sendError(res, new KvError('BAD_REQUEST', 'a % in the query is not followed by two hex digits (docs/HTTP.md §2)'));
  const method = req.method ?? 'GET';
  if (keyPart === '') {
    if (method !== 'GET' && method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return sendError(res, new KvError('METHOD_NOT_ALLOWED', `${method} /v1/kv is not allowed; list with GET, or name a key: /v1/kv/{key}`));
    }
    return list(ctx, session, req, res, params);
  }
  const key = decodeKeyPath(keyPart);
  if (key === null) return sendError(res, new KvError('BAD_REQUEST', 'a % in the key is not followed by two hex digits (docs/HTTP.md §2: every byte may be written %XX)'));
  switch (method) {
    case 'GET':
    case 'HEAD': {
      const waited = await waitForKey(ctx, req, res, key, params);
      if (waited !== null) return sendError(res, waited);
      return get(ctx, session, res, key, method === 'HEAD');
    }
    case 'PUT':
      return put(ctx, conn, req, res, key, params);
    case 'DELETE':
      return del(ctx, session, req, res, key);
    default:
      res.setHeader('Allow', 'GET, HEAD, PUT, DELETE');
      return sendError(res, new KvError('METHOD_NOT_ALLOWED', `${method} is not allowed on a key; use GET, HEAD, PUT or DELETE`));
  }
}

async function get(ctx: CommandContext, session: Session, res: http.ServerResponse, key: ByteString, headOnly: boolean): Promise<void> {
  const r = await (executeCommand(ctx, session, ['GETVER', key]));
  if (r.t === 'error') return sendError(res, r.err);
  if (r.t !== 'versioned') return sendError(res, new KvError('NOT_FOUND', 'no such key'));
  // The value goes out as a latin1 string (one char a byte), not a Buffer: node:http then
  // joins the head and the body into one write, where a Buffer body is a second chunk of a
  // writev, and no Buffer is made for it.
  const body = r.v;
  const headers: Record<string, string | number> = {
    'Content-Type': 'application/octet-stream',
    'Content-Length': body.length,
    'X-Content-Type-Options': 'nosniff',
    'Cache-Control': 'no-store',
    ETag: etag(r.version),
    'X-Dualkv-Version': String(r.version),
  };
  if (r.expiresAt !== 0) headers['X-Dualkv-Expires-At'] = String(r.expiresAt);
  res.writeHead(200, headers);
  if (headOnly) res.end();
  else res.end(body, 'latin1');
}

async function put(ctx: CommandContext, conn: HttpConnection, req: http.IncomingMessage, res: http.ServerResponse, key: ByteString, params: Map<string, string>): Promise<void> {
  const session = conn.session;
  const cond = condition(req);
  const when = expiry(ctx, params);
  const limit = ctx.limits.maxValueSize;
  const body = await readBody(req, limit, conn, (n) => valueTooLargeError(n, limit));
  // The body is now the command's argument, no longer the connection's buffer.
  conn.holding(0);
  if (cond instanceof KvError) return sendError(res, cond);
  if (when instanceof KvError) return sendError(res, when);
  if (body instanceof KvError) return sendError(res, body, {}, { Connection: 'close' });
  const r = await (executeSpec(ctx, session, HTTP_PUT, ['PUT', key, body.toString('latin1'), cond, when]));
  if (r.t === 'error') return sendError(res, r.err);
  if (r.t === 'cas') return conflict(res, r.version);
  if (r.t !== 'stored') throw new Error(`PUT answered ${r.t}`);
  sendJson(res, r.created ? 201 : 200, { version: String(r.version), created: r.created }, false, { ETag: etag(r.version) });
}

async function del(ctx: CommandContext, session: Session, req: http.IncomingMessage, res: http.ServerResponse, key: ByteString): Promise<void> {
  const cond = condition(req);
  if (cond instanceof KvError) return sendError(res, cond);
  if (cond === '*absent') return sendError(res, new KvError('BAD_REQUEST', 'If-None-Match does not apply to DELETE'));
  if (cond === '' || cond === '*exists') {
    const r = await (executeCommand(ctx, session, ['DEL', key]));
    if (r.t === 'error') return sendError(res, r.err);
    if (r.t === 'deleted' && r.n > 0) return void res.writeHead(204, { 'Cache-Control': 'no-store' }).end();
    return cond === '*exists' ? conflict(res, 0) : sendError(res, new KvError('NOT_FOUND', 'no such key'));
  }
  const r = await (executeCommand(ctx, session, ['CAD', key, cond]));
  if (r.t === 'error') return sendError(res, r.err);
  if (r.t === 'cas' && r.applied) return void res.writeHead(204, { 'Cache-Control': 'no-store' }).end();
  return conflict(res, r.t === 'cas' ? r.version : 0);
}

/** 412, with the key's current version (0: absent) in the body and, when it exists, the ETag. */
function conflict(res: http.ServerResponse, version: number): void {
  const err = new KvError('PRECONDITION_FAILED', version === 0 ? 'the condition does not hold: the key does not exist' : `the condition does not hold: the key's version is ${version}`);
  sendError(res, err, { version: String(version) }, version === 0 ? {} : { ETag: etag(version) });
}

/** A glob that matches exactly the keys starting with `prefix` (SCAN's MATCH). */
function prefixGlob(prefix: string): string {
  return prefix.replace(/[*?[\]\\]/g, (c) => '\\' + c) + '*';
}

async function list(ctx: CommandContext, session: Session, req: http.IncomingMessage, res: http.ServerResponse, params: Map<string, string>): Promise<void> {
  const rawLimit = params.get('limit');
  if (rawLimit !== undefined && !/^[1-9][0-9]{0,5}$/.test(rawLimit)) return sendError(res, new KvError('BAD_REQUEST', `limit must be a whole number from 1 to ${MAX_LIST_LIMIT}`));
  const limit = Math.min(Number(rawLimit ?? DEFAULT_LIST_LIMIT), MAX_LIST_LIMIT);
  const cursor = params.get('cursor') ?? '0';
  const prefix = params.get('prefix') ?? '';
  // What the listing is as of: a watch from it (/v1/changes?since=) misses nothing after.
  const revision = ctx.backend.revisionNow();
  const args = ['SCAN', cursor, 'COUNT', String(limit)];
  if (prefix !== '') args.push('MATCH', prefixGlob(prefix));
  const r = await (executeCommand(ctx, session, args));
  if (r.t === 'error') return sendError(res, r.err.code === 'INVALID_CURSOR' ? new KvError('BAD_REQUEST', r.err.message) : r.err);
  if (r.t !== 'keys') throw new Error(`SCAN answered ${r.t}`);
  sendJson(res, 200, { keys: r.keys.map(encodeKeyPath), cursor: r.cursor === '0' ? null : r.cursor }, req.method === 'HEAD', { 'X-Dualkv-Revision': String(revision) });
}
