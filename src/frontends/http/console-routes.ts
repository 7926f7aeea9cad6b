import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type http from 'node:http';
import { sep } from 'node:path';
import { KvError } from '../../errors.js';
import { packagePath } from '../../package-root.js';
import { allowGetOrHead, sendError } from './http-replies.js';

/**
 * The web console (docs/HTTP.md §8): a few static files served under /ui/, read once and
 * kept in memory. Only the names below are served (an exact match, so no path can reach
 * another file); the page itself talks to the server through the public API only.
 */

/** The files of the console, by the name after /ui/, and the type each is served with. */
export const CONSOLE_FILES: ReadonlyMap<string, string> = new Map([
  ['index.html', 'text/html; charset=utf-8'],
  ['console.css', 'text/css; charset=utf-8'],
  ['console.js', 'text/javascript; charset=utf-8'],
  ['api.js', 'text/javascript; charset=utf-8'],
  ['sign-in.js', 'text/javascript; charset=utf-8'],
  ['sse.js', 'text/javascript; charset=utf-8'],
  ['chart.js', 'text/javascript; charset=utf-8'],
  ['metrics.js', 'text/javascript; charset=utf-8'],
  ['figures.js', 'text/javascript; charset=utf-8'],
  ['key-bytes.js', 'text/javascript; charset=utf-8'],
  ['key-browser.js', 'text/javascript; charset=utf-8'],
  ['key-editor.js', 'text/javascript; charset=utf-8'],
]);

/** The page runs only its own scripts and styles, talks only to this server, and may not be framed. */
export const CONSOLE_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  // Revalidated every time (the ETag makes that a 304): an upgraded server's page is seen at once.
  'Cache-Control': 'no-cache',
};

interface ConsoleFile {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
}

/** Where the files are: src/frontends/http/console/ in the package, which ships that folder. */
function consoleDir(): string | null {
  const dir = packagePath('src', 'frontends', 'http', 'console') + sep;
  return existsSync(dir + 'index.html') ? dir : null;
}

let loaded: ReadonlyMap<string, ConsoleFile> | null = null;

/** The files, read on the first request and kept; those the installation lacks are left out. */
function consoleFiles(): ReadonlyMap<string, ConsoleFile> {
  if (loaded !== null) return loaded;
  const dir = consoleDir();
  const files = new Map<string, ConsoleFile>();
  if (dir !== null) {
    for (const [name, type] of CONSOLE_FILES) {
      let body: Buffer;
      try {
        body = readFileSync(dir + name);
      } catch {
        continue; // a file missing from the installation is a 404 that says so
      }
      files.set(name, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` });
    }
  }
  loaded = files;
  return files;
}

export function isConsolePath(path: string): boolean {
  return path === '/ui' || path.startsWith('/ui/');
}

/** GET/HEAD /ui (a redirect to /ui/), /ui/ (the page) and /ui/<file> for the files above; anything else is the API's 404. */
export function serveConsole(req: http.IncomingMessage, res: http.ServerResponse, path: string): void {
  const name = path === '/ui' ? '' : path === '/ui/' ? 'index.html' : path.slice('/ui/'.length);
  const file = name === '' ? null : consoleFiles().get(name);
  if (file === undefined) {
    const why = CONSOLE_FILES.has(name) ? 'this installation lacks the console\'s files (src/frontends/http/console/ of the package)' : 'the web console is at /ui/ (docs/HTTP.md §8)';
    return sendError(res, new KvError('NOT_FOUND', `no such file ${path}; ${why}`));
  }
  if (!allowGetOrHead(req, res)) return;
  if (file === null) {
    res.writeHead(308, { Location: '/ui/', 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': 0, ...CONSOLE_HEADERS });
    return void res.end();
  }
  const headers = { 'Content-Type': file.type, ETag: file.etag, ...CONSOLE_HEADERS };
  if (req.headers['if-none-match'] === file.etag) return void res.writeHead(304, headers).end();
  res.writeHead(200, { ...headers, 'Content-Length': file.body.length });
  res.end(req.method === 'HEAD' ? undefined : file.body);
}
