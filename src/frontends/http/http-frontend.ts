import http from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Dialect } from '../../commands/dialects.js';
import type { CommandContext, Session } from '../../commands/types.js';
import { createOpLog } from '../../op-log.js';
import type { Frontend } from '../frontend.js';
import { isConsolePath, serveConsole } from './console-routes.js';
import { allowGetOrHead, sendError, sendJson } from './http-replies.js';
import { handleKv } from './kv-routes.js';
import { changesRoute } from './watch-routes.js';
import { KvError } from '../../errors.js';

/** The HTTP dialect (docs/HTTP.md): the keyspace commands, reached through the API's routes only. */
export const HTTP: Dialect = { name: 'http', groups: new Set(['keyspace']) };

/** A request whose headers have not all come within this long is answered 408 and closed (slow clients). */
export const HEADERS_TIMEOUT_MS = 10_000;
/** A whole request (headers and body) must come within this long. */
export const REQUEST_TIMEOUT_MS = 30_000;
/** An idle keep-alive connection is closed after this long. */
export const KEEP_ALIVE_TIMEOUT_MS = 5_000;
/** At shutdown, how long requests under way get before the connections still open are closed. */
export const CLOSE_GRACE_MS = 2_000;

/** What GET /metrics serves (src/metrics/server-metrics.ts); absent: /metrics is 404. */
export interface MetricsEndpoint {
  readonly contentType: string;
  render(): Promise<string>;
}

export interface HttpFrontendOptions {
  readonly host: string;
  readonly port: number;
  readonly logOps: boolean;
  readonly metrics?: MetricsEndpoint;
}

/**
 * The HTTP front-end (docs/HTTP.md), on node:http: a REST API over the same command
 * table, limits, op log and stats as TCP and UDP, and the probes. Written on node:http
 * rather than a framework: the routes are few and fixed, and a request's path to the
 * store is the hot path (issue 13's target is a ratio against a bare node:http server).
 */
export class HttpFrontend implements Frontend {
  readonly name = 'http';
  private readonly server: http.Server;
  private readonly sessions = new WeakMap<Socket, Session>();
  private nextId = 1;
  private closing = false;

  constructor(
    private readonly ctx: CommandContext,
    private readonly log: Logger,
    private readonly options: HttpFrontendOptions,
  ) {
    this.server = http.createServer(
      {
        keepAlive: true,
        headersTimeout: HEADERS_TIMEOUT_MS,
        requestTimeout: REQUEST_TIMEOUT_MS,
        keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
        // node checks those two timeouts this often (its default, 30 s, would let a slow client hold on three times as long).
        connectionsCheckingInterval: 1000,
      },
      (req, res) => this.handle(req, res),
    );
    this.server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
    // A request node:http cannot parse gets a 400 with the API's JSON error, then the close.
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      if (!socket.writable) return socket.destroy();
      const e =
        err.code === 'HPE_HEADER_OVERFLOW'
          ? new KvError('HEADERS_TOO_LARGE', 'the request headers are over 16 KiB')
          : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
            ? new KvError('REQUEST_TIMEOUT', `the request did not arrive whole in time (headers within ${HEADERS_TIMEOUT_MS / 1000} s, all of it within ${REQUEST_TIMEOUT_MS / 1000} s)`)
            : new KvError('BAD_REQUEST', `the request is not HTTP/1.1 this server can read (${err.code ?? err.message})`);
      const status = e.httpStatus;
      const body = JSON.stringify({ error: { code: e.code, message: e.message } });
      socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    });
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject);
        const port = (this.server.address() as { port: number }).port;
        this.log.info({ transport: 'http', host: this.options.host, port }, 'listening');
        resolve(port);
      });
    });
  }

  close(timeoutMs: number): Promise<void> {
    this.closing = true;
    return new Promise((resolve) => {
      // Requests finish in milliseconds; what is still open after this is a long-poll or an SSE stream, which ends with the server.
      const timer = setTimeout(() => {
        this.server.closeAllConnections();
      }, Math.min(timeoutMs, CLOSE_GRACE_MS));
      timer.unref();
      this.server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      this.server.closeIdleConnections();
    });
  }

  /** One Session per connection, as TCP has: whom its requests' op lines name. */
  private sessionOf(req: http.IncomingMessage): Session {
    const socket = req.socket;
    let s = this.sessions.get(socket);
    if (s === undefined) {
      const id = this.nextId++;
      const client = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
      const log = this.log.child({ transport: 'http', client, conn: id });
      s = { transport: 'http', dialect: HTTP, client, opLog: this.options.logOps ? createOpLog(log) : null, closing: false, name: '', id, multi: null, watched: null };
      this.sessions.set(socket, s);
    }
    return s;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const query = q < 0 ? '' : url.slice(q + 1);
    if (this.closing) res.setHeader('Connection', 'close');
    try {
      if (path === '/livez') return probe(req, res, 200, { status: 'ok' });
      if (path === '/readyz') return this.ready(req, res);
      if (path === '/metrics' && this.options.metrics) return this.scrape(req, res, this.options.metrics);
      if (path === '/v1/kv' || path.startsWith('/v1/kv/')) return handleKv(this.ctx, this.sessionOf(req), req, res, path.slice('/v1/kv/'.length), query);
      if (path === '/v1/changes') return void changesRoute(this.ctx, this.sessionOf(req), req, res, query).catch((err: unknown) => this.failed(res, err));
      if (isConsolePath(path)) return serveConsole(req, res, path);
      sendError(res, new KvError('NOT_FOUND', `no route ${path}; the API is under /v1/kv/ (docs/HTTP.md)`));
    } catch (err) {
      this.failed(res, err);
    }
  }

  /** A bug while answering: logged with its cause; the client gets a 500, or the connection is cut if the answer had begun. */
  private failed(res: http.ServerResponse, err: unknown): void {
    this.log.error({ err }, 'internal error while answering an HTTP request');
    if (!res.headersSent) sendError(res, new KvError('SERVER', 'internal error; see the server log'));
    else res.destroy();
  }

  /** Ready: recovery is done (the listener opens after it), writes are accepted, and the server is not stopping. */
  private ready(req: http.IncomingMessage, res: http.ServerResponse): void {
    const blocked = this.ctx.backend.writeBlocker();
    if (this.closing) return probe(req, res, 503, { status: 'not ready', reason: 'shutting down' });
    if (blocked) return probe(req, res, 503, { status: 'not ready', reason: blocked.message });
    probe(req, res, 200, { status: 'ready' });
  }

  /** docs/HTTP.md "Metrics": the Prometheus text format. */
  private scrape(req: http.IncomingMessage, res: http.ServerResponse, metrics: MetricsEndpoint): void {
    if (!allowGetOrHead(req, res)) return;
    metrics.render().then(
      (text) => {
        res.writeHead(200, { 'Content-Type': metrics.contentType, 'Content-Length': Buffer.byteLength(text) });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        this.log.error({ err }, 'internal error while rendering /metrics');
        sendError(res, new KvError('SERVER', 'internal error; see the server log'));
      },
    );
  }
}

function probe(req: http.IncomingMessage, res: http.ServerResponse, status: number, body: Record<string, string>): void {
  if (!allowGetOrHead(req, res)) return;
  sendJson(res, status, body, req.method === 'HEAD');
}
