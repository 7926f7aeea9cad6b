import http from 'node:http';
import https from 'node:https';
import type tls from 'node:tls';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { CommandContext } from '../../commands/types.js';
import type { ClientMemoryCap } from '../client-memory.js';
import type { Frontend } from '../frontend.js';
import { RejectLogLimiter } from '../../log-limiter.js';
import { HttpConnection } from './http-connection.js';
import { authorize, WWW_AUTHENTICATE } from './http-auth.js';
import { PROTECTED_MODE_MESSAGE } from '../../auth/protected-mode.js';
import { isConsolePath, serveConsole } from './console-routes.js';
import { allowGetOrHead, sendError, sendJson } from './http-replies.js';
import { handleKv } from './kv-routes.js';
import { handleSeed, isSeedPath } from './seed-routes.js';
import { changesRoute } from './watch-routes.js';
import { internalError, KvError } from '../../errors.js';
import { watchTlsListener } from '../tls-settings.js';

export { HTTP } from './http-dialect.js';

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
  /** --maxmemory-clients, shared with TCP: a body being read and the reply bytes owed count. */
  readonly clientMemory: ClientMemoryCap;
  /** Connections open at once (--max-connections, as TCP has); past it node:http closes the new one. */
  readonly maxConnections: number;
  /** README "TLS": serve HTTPS (https.Server) on these options (src/frontends/tls-settings.ts), with the same routes. */
  readonly tls?: tls.TlsOptions;
}

/** Warn lines about connections refused at --max-connections, at most this many a second. */
const REFUSAL_LOG_PER_SECOND = 10;

/**
 * The HTTP front-end (docs/HTTP.md), on node:http: a REST API over the same command
 * table, limits, op log and stats as TCP and UDP, and the probes. Written on node:http
 * rather than a framework: the routes are few and fixed, and a request's path to the
 * store is the hot path (issue 13's target is a ratio against a bare node:http server).
 */
export class HttpFrontend implements Frontend {
  /** `http`, or `https` with TLS: the name its port is reported under. */
  readonly name: 'http' | 'https';
  private readonly server: http.Server | https.Server;
  private readonly connections = new WeakMap<Socket, HttpConnection>();
  private readonly refusalLog = new RejectLogLimiter(REFUSAL_LOG_PER_SECOND);
  private closing = false;

  constructor(
    private readonly ctx: CommandContext,
    private readonly log: Logger,
    private readonly options: HttpFrontendOptions,
  ) {
    const serverOptions: http.ServerOptions = {
      keepAlive: true,
      headersTimeout: HEADERS_TIMEOUT_MS,
      requestTimeout: REQUEST_TIMEOUT_MS,
      keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
      // node checks those two timeouts this often (its default, 30 s, would let a slow client hold on three times as long).
      connectionsCheckingInterval: 1000,
    };
    const handle = (req: http.IncomingMessage, res: http.ServerResponse) => this.handle(req, res);
    this.name = options.tls === undefined ? 'http' : 'https';
    if (options.tls === undefined) {
      this.server = http.createServer(serverOptions, handle);
      this.server.on('connection', (socket: Socket) => this.accept(socket));
    } else {
      const server = https.createServer({ ...serverOptions, ...options.tls }, handle);
      // Requests arrive on the TLS socket, which exists once the handshake is done ('connection' has the raw one).
      watchTlsListener(server, {
        accept: (socket) => this.accept(socket),
        refused: () => ctx.stats.connectionsRejected++,
        warn: (fields, msg) => this.refusalWarn(fields, msg),
      });
      this.server = server;
    }
    this.server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
    this.server.maxConnections = options.maxConnections;
    this.server.on('drop', (data?: { remoteAddress?: string; remotePort?: number }) => {
      ctx.stats.connectionsRejected++;
      this.refusalWarn({ client: `${data?.remoteAddress ?? '?'}:${data?.remotePort ?? 0}`, limit: options.maxConnections }, 'connection refused: max connections reached');
    });
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

  private refusalWarn(fields: Record<string, unknown>, msg: string): void {
    const suppressed = this.refusalLog.admit();
    if (suppressed !== null) this.log.warn({ transport: this.name, ...fields, suppressed: suppressed || undefined }, msg);
  }

  /** SIGHUP (KvServer.reload): new connections get this certificate and key; open ones keep theirs. */
  setSecureContext(context: tls.SecureContextOptions): void {
    if (this.server instanceof https.Server) this.server.setSecureContext(context);
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject);
        const port = (this.server.address() as { port: number }).port;
        this.log.info({ transport: this.name, host: this.options.host, port }, 'listening');
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

  /**
   * A connection is a client as a TCP one is: counted in connected_clients, listed by
   * CLIENT LIST (with ids from the same sequence), killable, and held to --maxmemory-clients.
   */
  private accept(socket: Socket): void {
    const { stats, clients } = this.ctx;
    const conn = new HttpConnection(socket, clients?.nextId() ?? 0, this.log, this.options.logOps, this.options.clientMemory);
    this.connections.set(socket, conn);
    stats.connectionsCurrent++;
    stats.connectionsTotal++;
    clients?.add(conn.session);
    this.options.clientMemory.add(conn);
    socket.once('close', () => {
      stats.connectionsCurrent--;
      clients?.remove(conn.session);
      this.options.clientMemory.remove(conn);
    });
  }

  private connectionOf(req: http.IncomingMessage): HttpConnection {
    const conn = this.connections.get(req.socket);
    // Every socket passes through accept() before its first request.
    if (conn === undefined) throw new Error('an HTTP request on a connection that was never accepted');
    return conn;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const query = q < 0 ? '' : url.slice(q + 1);
    if (this.closing) res.setHeader('Connection', 'close');
    const conn = this.connectionOf(req);
    // prefinish comes as end() has handed the reply to the socket: what it owes is known then.
    res.once('prefinish', () => conn.changed());
    try {
      if (path === '/livez') return probe(req, res, 200, { status: 'ok' });
      if (path === '/readyz') return this.ready(req, res);
      // docs/HTTP.md §9: the probes answer anyone; /metrics and the API need a user when credentials are configured.
      if (this.ctx.protectedMode?.refuses(req.socket.remoteAddress) === true) return sendError(res, new KvError('DENIED', PROTECTED_MODE_MESSAGE), {}, { Connection: 'close' });
      // The console's files hold no data: the page asks for a token and sends it with its API calls.
      if (isConsolePath(path)) return serveConsole(req, res, path);
      const refused = authorize(this.ctx, conn, req);
      if (refused !== null) return this.unauthorized(req, res, refused);
      if (path === '/metrics' && this.options.metrics) return this.scrape(req, res, this.options.metrics);
      if (path === '/v1/kv' || path.startsWith('/v1/kv/')) return handleKv(this.ctx, conn, req, res, path.slice('/v1/kv/'.length), query);
      if (path === '/v1/changes') return void changesRoute(this.ctx, conn, req, res, query).catch((err: unknown) => this.failed(res, err));
      if (isSeedPath(path)) return handleSeed(this.ctx, conn, req, res, path);
      sendError(res, new KvError('NOT_FOUND', `no route ${path}; the API is under /v1/kv/ (docs/HTTP.md)`));
    } catch (err) {
      this.failed(res, err);
    }
  }

  /**
   * 401, with RFC 6750's challenge. A body the request still carries is not read: the
   * connection closes instead, so that a client that has not authenticated cannot make the server read much.
   */
  private unauthorized(req: http.IncomingMessage, res: http.ServerResponse, err: KvError): void {
    const hasBody = (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0') || req.headers['transfer-encoding'] !== undefined;
    const challenge = err.code === 'WRONG_PASS' ? `${WWW_AUTHENTICATE}, error="invalid_token"` : WWW_AUTHENTICATE;
    sendError(res, err, {}, { 'WWW-Authenticate': challenge, ...(hasBody ? { Connection: 'close' } : {}) });
  }

  /** A bug while answering: logged with its cause; the client gets a 500, or the connection is cut if the answer had begun. */
  private failed(res: http.ServerResponse, err: unknown): void {
    this.log.error({ err }, 'internal error while answering an HTTP request');
    if (!res.headersSent) sendError(res, internalError());
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
        sendError(res, internalError());
      },
    );
  }
}

function probe(req: http.IncomingMessage, res: http.ServerResponse, status: number, body: Record<string, string>): void {
  if (!allowGetOrHead(req, res)) return;
  sendJson(res, status, body, req.method === 'HEAD');
}
