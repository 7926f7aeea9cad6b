import type http from 'node:http';
import { KvError } from '../../errors.js';
import { decodeKeyPath } from './http-keys.js';

/** What every route answers with: JSON bodies and errors (docs/HTTP.md §4), and the query's parameters (§2). */

const JSON_TYPE = 'application/json; charset=utf-8';

export function sendJson(res: http.ServerResponse, status: number, body: unknown, headOnly = false, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': JSON_TYPE, 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store', ...headers });
  res.end(headOnly ? undefined : text);
}

/** docs/HTTP.md §4: every error is `{"error": {"code", "message"}}`, with the registry's code and HTTP status. */
export function sendError(res: http.ServerResponse, err: KvError, extra: Record<string, string> = {}, headers: Record<string, string> = {}): void {
  sendJson(res, err.httpStatus, { error: { code: err.code, message: err.textMessage ?? err.message, ...extra } }, false, headers);
}

/** True for GET and HEAD; any other method is answered 405 with `Allow: GET, HEAD`. */
export function allowGetOrHead(req: http.IncomingMessage, res: http.ServerResponse): boolean {
  if (req.method === 'GET' || req.method === 'HEAD') return true;
  res.setHeader('Allow', 'GET, HEAD');
  sendError(res, new KvError('METHOD_NOT_ALLOWED', `${req.method ?? ''} is not allowed here; use GET or HEAD`));
  return false;
}

/** The query's parameters, each name and value percent-decoded to bytes (no `+` for space), or null for a bad escape. */
export function parseQuery(query: string): Map<string, string> | null {
  const out = new Map<string, string>();
  if (query === '') return out;
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = decodeKeyPath(eq < 0 ? part : part.slice(0, eq));
    const value = decodeKeyPath(eq < 0 ? '' : part.slice(eq + 1));
    if (name === null || value === null) return null;
    out.set(name, value);
  }
  return out;
}

