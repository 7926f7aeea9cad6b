import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { PROTECTED_MODE_MESSAGE } from '../../auth/protected-mode.js';
import { initialUser } from '../../commands/access.js';
import { executeCommand } from '../../commands/execute.js';
import type { CommandContext } from '../../commands/types.js';
import { RESP_MAX_ARGS } from '../../protocol/resp.js';
import { RejectLogLimiter } from '../../log-limiter.js';
import type { Frontend } from '../frontend.js';
import type { ClientMemoryCap } from '../client-memory.js';
import { watchTlsListener } from '../tls-settings.js';
import { clampConnections } from './fd-limit.js';
import { SocketConnection, type ConnectionLimits } from './socket-connection.js';
import type { RunCommand } from './stream-session.js';

export interface TcpFrontendOptions {
  readonly host: string;
  readonly port: number;
  readonly logOps: boolean;
  /** The cap on query and reply bytes all stream clients together may hold (--maxmemory-clients), shared with HTTP. */
  readonly clientMemory: ClientMemoryCap;
  /**
   * README "TLS": listen with TLS (tls.Server) instead, on these options (src/frontends/tls-settings.ts).
   * Secure sockets take the same path as plain ones once their handshake is done.
   */
  readonly tls?: tls.TlsOptions;
  /** Its connections' transport in log lines (and its port's name): `tcp`, or `tls` for a TLS listener. */
  readonly name?: 'tcp' | 'tls';
}

/** Warn lines about refused connections and accept errors, at most this many a second. */
const REFUSAL_LOG_PER_SECOND = 10;

/** Accepts TCP clients and hands each socket to a SocketConnection, which gives it a StreamSession. */
export class TcpFrontend implements Frontend {
  readonly name: 'tcp' | 'tls';
  private readonly server: net.Server | tls.Server;
  private readonly connections = new Set<SocketConnection>();
  /** Ids in a bare context, with no client registry. */
  private nextId = 1;
  /** --max-connections, lowered to fit the open-files limit. */
  readonly maxConnections: number;
  private readonly clientMemory: ClientMemoryCap;
  private readonly refusalLog = new RejectLogLimiter(REFUSAL_LOG_PER_SECOND);
  private readonly connLimits: ConnectionLimits;
  private readonly run: RunCommand;

  constructor(
    private readonly ctx: CommandContext,
    private readonly log: Logger,
    private readonly options: TcpFrontendOptions,
  ) {
    const limits = ctx.limits;
    const clamp = clampConnections(limits.maxConnections);
    this.maxConnections = clamp.max;
    if (clamp.reason !== null) {
      log.warn({ maxConnections: limits.maxConnections, effective: clamp.max, reason: clamp.reason }, '--max-connections lowered to fit the open-files limit');
    }
    this.run = (session, args) => executeCommand(ctx, session, args);
    this.connLimits = {
      maxArgBytes: Math.max(limits.maxValueSize, limits.maxKeySize),
      maxArgs: RESP_MAX_ARGS,
      // A line is an unfinished request too: it may not outgrow the query buffer.
      maxLineBytes: Math.min(limits.maxLineSize, limits.maxQueryBuffer),
      maxRequestBytes: limits.maxQueryBuffer,
      maxOutputBuffer: limits.maxOutputBuffer,
    };
    this.clientMemory = options.clientMemory;
    this.name = options.name ?? 'tcp';
    const serverOptions = { noDelay: true, allowHalfOpen: true };
    if (options.tls === undefined) {
      this.server = net.createServer(serverOptions, (socket) => this.accept(socket));
    } else {
      const server = tls.createServer({ ...serverOptions, ...options.tls });
      watchTlsListener(server, {
        accept: (socket) => this.accept(socket),
        refused: () => ctx.stats.connectionsRejected++,
        warn: (fields, msg) => this.refusalWarn({ transport: this.name, ...fields }, msg),
      });
      this.server = server;
    }
    this.server.on('error', (err) => {
      // accept() failing (EMFILE, ENFILE: out of descriptors) drops that client: count it, say so, rate-limited.
      ctx.stats.connectionsRejected++;
      this.refusalWarn({ err: { code: (err as NodeJS.ErrnoException).code, message: err.message } }, 'TCP listener error; a client may have been dropped');
    });
  }

  /** SIGHUP (KvServer.reload): new connections get this certificate and key; open ones keep theirs. */
  setSecureContext(context: tls.SecureContextOptions): void {
    if (this.server instanceof tls.Server) this.server.setSecureContext(context);
  }

  private refusalWarn(fields: Record<string, unknown>, msg: string): void {
    const suppressed = this.refusalLog.admit();
    if (suppressed !== null) this.log.warn({ ...fields, suppressed: suppressed || undefined }, msg);
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once('error', onError);
      this.server.listen({ host: this.options.host, port: this.options.port }, () => {
        this.server.off('error', onError);
        resolve((this.server.address() as net.AddressInfo).port);
      });
    });
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  private accept(socket: net.Socket): void {
    const stats = this.ctx.stats;
    const client = `${socket.remoteAddress}:${socket.remotePort}`;
    if (this.connections.size >= this.maxConnections) {
      stats.connectionsRejected++;
      this.refusalWarn({ client, limit: this.maxConnections }, 'connection refused: max connections reached');
      socket.on('error', () => socket.destroy());
      // Read and drop what the client sends, so that its FIN closes the socket at once
      // and unread input does not turn the close into a reset.
      socket.resume();
      // Redis's wording; a text-dialect user reads it as well as a RESP client does.
      socket.end(`-ERR max number of clients reached (--max-connections ${this.maxConnections})\r\n`);
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    if (this.ctx.protectedMode?.refuses(socket.remoteAddress) === true) return this.refuseProtected(socket, client);
    stats.connectionsCurrent++;
    stats.connectionsTotal++;
    socket.setKeepAlive(true, 60_000);
    const id = this.ctx.clients?.nextId() ?? this.nextId++;
    const log = this.log.child({ transport: this.name, client, conn: id });
    const conn = new SocketConnection(socket, {
      id,
      client,
      run: this.run,
      stats,
      log,
      logOps: this.options.logOps,
      limits: this.connLimits,
      owner: { memoryChanged: (c) => this.clientMemory.update(c) },
      user: initialUser(this.ctx),
      oneAtATime: this.ctx.backend.answersLater === true,
    });
    this.connections.add(conn);
    this.clientMemory.add(conn);
    this.ctx.clients?.add(conn.session);
    log.debug('client connected');
    const idleSec = this.ctx.limits.idleTimeoutSec;
    if (idleSec > 0) {
      // As Redis's `timeout`: no bytes either way for that long, and the client is closed.
      socket.setTimeout(idleSec * 1000, () => {
        stats.idleDisconnects++;
        log.info({ idleSec }, 'closing an idle client (--timeout)');
        conn.kill();
      });
    }
    socket.on('error', (err) => {
      log.info({ err: { code: (err as NodeJS.ErrnoException).code, message: err.message } }, 'client socket error');
    });
    socket.on('close', () => {
      conn.markDead();
      this.connections.delete(conn);
      this.ctx.clients?.remove(conn.session);
      this.ctx.monitors?.remove(conn.session);
      this.clientMemory.remove(conn);
      stats.connectionsCurrent--;
      log.debug('client disconnected');
    });
  }

  /** Protected mode: one line with the ways out, in Redis's -DENIED form (a text-dialect user reads it as well), then the close. */
  private refuseProtected(socket: net.Socket, client: string): void {
    this.ctx.stats.connectionsRejected++;
    this.refusalWarn({ client }, 'connection refused: protected mode (no credentials configured, and the client is not on loopback)');
    socket.on('error', () => socket.destroy());
    socket.resume();
    socket.end(`-DENIED ${PROTECTED_MODE_MESSAGE}\r\n`);
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  /**
   * Stops accepting, lets every connection finish the commands it has read, then
   * closes them. Connections still open after `timeoutMs` are cut: a client that does
   * not read its replies, or whose unread input keeps its paused socket from seeing the
   * client's FIN, would otherwise hold the shutdown up for ever.
   */
  async close(timeoutMs: number): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const deadline = Date.now() + timeoutMs;
    await withTimeout(Promise.all([...this.connections].map((c) => c.drain())), timeoutMs);
    for (const c of this.connections) c.shutdown();
    await withTimeout(closed, Math.max(FIN_MIN_MS, deadline - Date.now()));
    for (const c of this.connections) c.kill();
    await withTimeout(closed, DESTROYED_CLOSE_MS);
  }
}

/** Time a connection gets to send its FIN once its replies are out, even when draining used the whole timeout. */
const FIN_MIN_MS = 100;
/** A destroyed socket closes on the next turn of the event loop; this only bounds the wait. */
const DESTROYED_CLOSE_MS = 1000;

/**
 * Resolves when `p` does or after `ms`. The timer is ref'd on purpose: during shutdown
 * it may be the only thing keeping the event loop alive (a paused socket does not).
 */
function withTimeout(p: Promise<unknown>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    void p.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
