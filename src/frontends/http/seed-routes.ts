import type http from 'node:http';
import { constants, isUtf8 } from 'node:buffer';
import { executeCommand, executeSpec } from '../../commands/execute.js';
import type { CommandContext } from '../../commands/types.js';
import { asKvError, KvError } from '../../errors.js';
import type { ByteString } from '../../store/bytes.js';
import { readBody } from './http-body.js';
import { valueTooLargeError } from '../../limits.js';
import type { HttpConnection } from './http-connection.js';
import { decodeKeyPath } from './http-keys.js';
import { sendJson } from './http-replies.js';
import { HTTP_PUT } from './kv-commands.js';

/**
 * The seed's API (docs/HTTP.md §10), kept for the applications written against the
 * Flask store dualkv grew from: `POST /{key}` with `{"value": "…"}`, `GET /{key}` →
 * `{"value": "…"}`, `DELETE /{key}`, errors as `{"error": "…"}`. Values are text
 * here (a JSON string, stored as its UTF-8 bytes); /v1/kv/ serves any bytes.
 * Each request is one command of the table, so limits, op lines and INFO count it
 * as they count the same command over TCP.
 */

/** The first path segments the server's own routes take: a key with one of these names is reached as /v1/kv/{key}. */
export const RESERVED_SEGMENTS: ReadonlySet<string> = new Set(['v1', 'livez', 'readyz', 'metrics', 'ui']);

/** Room for JSON's quotes and escapes beside the value: a body may be up to twice --max-value-size plus this. */
const BODY_SLACK = 1024;

/** True for a path of one segment (`/{key}`, as Flask's `<key>` takes it) that no other route takes. */
export function isSeedPath(path: string): boolean {
  return path.length > 1 && path.indexOf('/', 1) < 0 && !RESERVED_SEGMENTS.has(path.slice(1));
}

/** The seed's error body, `{"error": message}`, with the registry's code beside it and its HTTP status. */
function seedError(res: http.ServerResponse, err: KvError, headers: Record<string, string> = {}): void {
  sendJson(res, err.httpStatus, { error: err.textMessage ?? err.message, code: err.code }, false, headers);
}

/** `application/json`, with or without parameters (`; charset=utf-8`). */
function isJson(type: string | undefined): boolean {
  if (type === undefined) return false;
  const semi = type.indexOf(';');
  return (semi < 0 ? type : type.slice(0, semi)).trim().toLowerCase() === 'application/json';
}

export function handleSeed(ctx: CommandContext, conn: HttpConnection, req: http.IncomingMessage, res: http.ServerResponse, path: string): void {
  void route(ctx, conn, req, res, path).catch((err: unknown) => {
    if (!res.headersSent) seedError(res, asKvError(err));
  });
}

async function route(ctx: CommandContext, conn: HttpConnection, req: http.IncomingMessage, res: http.ServerResponse, path: string): Promise<void> {
  const key = decodeKeyPath(path.slice(1));
  if (key === null) return seedError(res, new KvError('BAD_REQUEST', 'a % in the key is not followed by two hex digits (docs/HTTP.md §2: every byte may be written %XX)'));
  switch (req.method) {
    case 'GET':
    case 'HEAD':
      return get(ctx, conn, res, key, req.method === 'HEAD');
    case 'POST':
      return post(ctx, conn, req, res, key);
    case 'DELETE':
      return del(ctx, conn, res, key);
    default:
      res.setHeader('Allow', 'GET, HEAD, POST, DELETE');
      return seedError(res, new KvError('METHOD_NOT_ALLOWED', `${req.method ?? ''} is not allowed on /{key}; use GET, POST or DELETE (or PUT on /v1/kv/{key})`));
  }
}

async function get(ctx: CommandContext, conn: HttpConnection, res: http.ServerResponse, key: ByteString, headOnly: boolean): Promise<void> {
  const r = await executeCommand(ctx, conn.session, ['GETVER', key]);
  if (r.t === 'error') return seedError(res, r.err);
  if (r.t !== 'versioned') return seedError(res, new KvError('NOT_FOUND', 'key not found'));
  const bytes = Buffer.from(r.v, 'latin1');
  if (!isUtf8(bytes)) {
    return seedError(res, new KvError('NOT_UTF8', `the value (${bytes.length} bytes) is not valid UTF-8, so it cannot be a JSON string; read it as bytes with GET /v1/kv/{key} (docs/HTTP.md §3)`));
  }
  sendJson(res, 200, { value: bytes.toString('utf8') }, headOnly, { 'X-Dualkv-Version': String(r.version) });
}

/** With the u flag a surrogate pair is one code point, so only an unpaired surrogate matches. */
const LONE_SURROGATE = /\p{Cs}/u;

/** The value of a body `{"value": "…"}` as the bytes to store, or the error that refuses it. */
function valueOf(body: Buffer, limit: number): ByteString | KvError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return new KvError('BAD_REQUEST', 'the body is not JSON; send {"value": "…"}');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || !('value' in parsed)) {
    return new KvError('BAD_REQUEST', 'the body has no "value"; send {"value": "…"}');
  }
  const value = (parsed as { value: unknown }).value;
  if (typeof value !== 'string') {
    return new KvError('BAD_REQUEST', `"value" must be a JSON string, not ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : `a ${typeof value}`}; store other JSON as its text, or bytes with PUT /v1/kv/{key}`);
  }
  // A lone surrogate (\ud800) has no UTF-8 form: storing U+FFFD in its place would change the value.
  if (LONE_SURROGATE.test(value)) return new KvError('BAD_REQUEST', '"value" holds a lone UTF-16 surrogate (\\ud800 to \\udfff unpaired), which has no UTF-8 form');
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > limit) return valueTooLargeError(bytes.length, limit);
  return bytes.toString('latin1');
}

async function post(ctx: CommandContext, conn: HttpConnection, req: http.IncomingMessage, res: http.ServerResponse, key: ByteString): Promise<void> {
  if (!isJson(req.headers['content-type'])) {
    // Not read: the connection closes instead. Only a JSON type makes a browser ask first (CORS) before posting from another site.
    return seedError(res, new KvError('UNSUPPORTED_MEDIA_TYPE', `the body must be JSON, sent with Content-Type: application/json (got ${req.headers['content-type'] ?? 'none'})`), { Connection: 'close' });
  }
  const limit = ctx.limits.maxValueSize;
  // The body is decoded to one string, and JavaScript holds none longer than MAX_STRING_LENGTH.
  const bodyLimit = Math.min(2 * limit + BODY_SLACK, constants.MAX_STRING_LENGTH);
  const body = await readBody(req, bodyLimit, conn, (n) => new KvError('VALUE_TOO_LARGE', `the body of ${n} bytes is over the ${bodyLimit} bytes this route reads (twice --max-value-size plus 1 KiB, at most ${constants.MAX_STRING_LENGTH}); store large values with PUT /v1/kv/{key}`));
  conn.holding(0);
  if (body instanceof KvError) return seedError(res, body, { Connection: 'close' });
  const value = valueOf(body, limit);
  if (value instanceof KvError) return seedError(res, value);
  const r = await executeSpec(ctx, conn.session, HTTP_PUT, ['PUT', key, value, '', '']);
  if (r.t === 'error') return seedError(res, r.err);
  if (r.t !== 'stored') throw new Error(`PUT answered ${r.t}`);
  sendJson(res, r.created ? 201 : 200, { version: String(r.version), created: r.created }, false, { 'X-Dualkv-Version': String(r.version) });
}

async function del(ctx: CommandContext, conn: HttpConnection, res: http.ServerResponse, key: ByteString): Promise<void> {
  const r = await executeCommand(ctx, conn.session, ['DEL', key]);
  if (r.t === 'error') return seedError(res, r.err);
  if (r.t === 'deleted' && r.n > 0) return sendJson(res, 200, { deleted: true });
  seedError(res, new KvError('NOT_FOUND', 'key not found'));
}
