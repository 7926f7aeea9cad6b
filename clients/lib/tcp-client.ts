import net from 'node:net';
import tls from 'node:tls';
import { performance } from 'node:perf_hooks';
import { KvError, ProtocolError } from '../../src/errors.js';
import { DEFAULT_PORT } from '../../src/config.js';
import { encodeRespCommand, type RespArg } from './resp-command-encoder.js';
import { parseInfo, type InfoSections } from './resp-info.js';
import { ServerReplyError, unexpectedReply, type RespValue } from './resp-reply.js';
import { RespReplyDecoder, type RespDecoderLimits } from './resp-reply-decoder.js';
import { RequestQueue, type InFlight } from './tcp-request-queue.js';

export const DEFAULT_HOST = '127.0.0.1';
export { DEFAULT_PORT };
/** How long connecting, and then each request, may take unless told otherwise. */
export const DEFAULT_TIMEOUT_MS = 5000;

export interface TcpClientOptions extends RespDecoderLimits {
  readonly host?: string;
  readonly port?: number;
  /** Per-request timeout in ms (0: none). Also the connect timeout unless connectTimeoutMs is given. */
  readonly timeoutMs?: number;
  readonly connectTimeoutMs?: number;
  /** Sent as AUTH [user] password once connected; connect() rejects when the server refuses them. */
  readonly credentials?: { readonly user?: string | undefined; readonly password: string } | null;
  /** Connect over TLS with these options (a server's --tls-port, Redis's tls-port): `ca`, `cert`, `key`, `servername`. */
  readonly tls?: tls.ConnectionOptions;
}

export interface RequestOptions {
  /** Overrides the client's timeout for this request (0: none). */
  readonly timeoutMs?: number;
}

/**
 * A RESP2 client over one TCP connection, for dualkv or any Redis server.
 *
 * - Every command returns a promise; many may be in flight at once (pipelining).
 *   Commands issued in the same tick leave in one socket write.
 * - Values are bytes: Buffers (or strings, sent as UTF-8) in, Buffers out.
 * - Failures are KvErrors with a stable code: CONNECTION (cannot connect, or the
 *   connection closed), TIMEOUT (no connection or reply in time), SERVER (an error
 *   reply, as ServerReplyError) and PROTOCOL (the server sent bytes that are not RESP).
 * - A timed-out request keeps its place in line: its late reply is dropped, so
 *   replies never shift onto the wrong request.
 */
/** What to check after a failed connect: a TLS failure (certificate, protocol) is not a host or port problem. */
function connectHint(err: NodeJS.ErrnoException, overTls: boolean): string {
  if (overTls && err.syscall === undefined) return `the TLS handshake failed: ${err.message.trim()}; check the CA (--tls-ca), the server name and the client certificate`;
  return 'is kv-server running there? check the host and port';
}

export class TcpClient {
  readonly host: string;
  readonly port: number;
  readonly timeoutMs: number;
  private readonly queue: RequestQueue;
  private readonly decoder: RespReplyDecoder;
  private closedErr: KvError | null = null;
  private lastSocketError: Error | null = null;
  private corked = false;
  private readonly closedPromise: Promise<void>;

  private constructor(
    private readonly socket: net.Socket,
    opts: TcpClientOptions,
  ) {
    this.host = opts.host ?? DEFAULT_HOST;
    this.port = opts.port ?? DEFAULT_PORT;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.queue = new RequestQueue(
      (e) =>
        new KvError(
          'TIMEOUT',
          `no reply to ${e.name} from ${this.address} within ${e.timeoutMs} ms (is the server overloaded? raise the timeout)`,
        ),
    );
    this.decoder = new RespReplyDecoder((reply) => this.onReply(reply), opts);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => {
      this.lastSocketError = err;
    });
    this.closedPromise = new Promise((resolve) => {
      socket.on('close', () => {
        const cause = this.lastSocketError;
        this.closedErr ??= new KvError(
          'CONNECTION',
          `connection to ${this.address} closed${cause ? `: ${cause.message}` : ''}`,
          cause ? { cause } : undefined,
        );
        const err = this.closedErr;
        this.queue.failAll(() => err);
        resolve();
      });
    });
  }

  /** Opens the connection. Rejects with CONNECTION (refused, unreachable) or TIMEOUT. */
  static connect(opts: TcpClientOptions = {}): Promise<TcpClient> {
    const host = opts.host ?? DEFAULT_HOST;
    const port = opts.port ?? DEFAULT_PORT;
    const address = `${host}:${port}`;
    const timeoutMs = opts.connectTimeoutMs ?? opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      const socket = opts.tls === undefined ? net.connect({ host, port }) : tls.connect({ host, port, ...opts.tls });
      const timer =
        timeoutMs > 0
          ? setTimeout(() => {
              socket.destroy();
              reject(new KvError('TIMEOUT', `could not connect to ${address} within ${timeoutMs} ms (check the host and port, or raise the timeout)`));
            }, timeoutMs)
          : null;
      const onError = (err: NodeJS.ErrnoException) => {
        if (timer) clearTimeout(timer);
        reject(
          new KvError('CONNECTION', `cannot connect to ${address}: ${err.code ?? err.message} (${connectHint(err, opts.tls !== undefined)})`, {
            cause: err,
          }),
        );
      };
      socket.once('error', onError);
      // Over TLS the connection is usable once the handshake is done (and the server's certificate verified).
      socket.once(opts.tls === undefined ? 'connect' : 'secureConnect', () => {
        if (timer) clearTimeout(timer);
        socket.off('error', onError);
        const client = new TcpClient(socket, { ...opts, host, port });
        const creds = opts.credentials;
        if (creds === undefined || creds === null) return resolve(client);
        const auth = creds.user === undefined ? ['AUTH', creds.password] : ['AUTH', creds.user, creds.password];
        client.command(auth).then(
          () => resolve(client),
          (err: unknown) => {
            client.destroy();
            reject(err);
          },
        );
      });
    });
  }

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  /** Requests sent and not yet answered (timed-out ones count until their reply or the close). */
  get inFlight(): number {
    return this.queue.length;
  }

  get closed(): boolean {
    return this.closedErr !== null;
  }

  /** Resolves once the socket has closed, whoever closed it. */
  whenClosed(): Promise<void> {
    return this.closedPromise;
  }

  /**
   * Sends any command and resolves with its reply. An error reply rejects with
   * ServerReplyError (code SERVER); errors nested inside an array stay values.
   */
  command(args: readonly RespArg[], opts: RequestOptions = {}): Promise<RespValue> {
    if (this.closedErr) return Promise.reject(this.closedErr);
    if (args.length === 0) return Promise.reject(new KvError('SYNTAX', 'a command needs at least its name'));
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    const name = commandName(args[0] as RespArg);
    return new Promise<RespValue>((resolve, reject) => {
      const entry: InFlight = {
        resolve,
        reject,
        name,
        timeoutMs,
        deadline: timeoutMs > 0 ? performance.now() + timeoutMs : Infinity,
        settled: false,
      };
      this.queue.push(entry);
      this.send(encodeRespCommand(args));
    });
  }

  /** The value of `key`, or null when it does not exist. */
  async get(key: RespArg, opts?: RequestOptions): Promise<Buffer | null> {
    const r = await this.command(['GET', key], opts);
    if (r === null || Buffer.isBuffer(r)) return r;
    throw unexpectedReply('GET', r);
  }

  /** Stores `value` under `key` (Redis SET, which dualkv also calls PUT). */
  async set(key: RespArg, value: RespArg, opts?: RequestOptions): Promise<void> {
    const r = await this.command(['SET', key, value], opts);
    if (r !== 'OK') throw unexpectedReply('SET', r);
  }

  /** The same as set(): dualkv's name for it. */
  put(key: RespArg, value: RespArg, opts?: RequestOptions): Promise<void> {
    return this.set(key, value, opts);
  }

  /** Deletes keys; resolves with how many existed. */
  async del(keys: RespArg | readonly RespArg[], opts?: RequestOptions): Promise<number> {
    return this.integer('DEL', ['DEL', ...(Array.isArray(keys) ? keys : [keys as RespArg])], opts);
  }

  /** How many of the keys exist. */
  async exists(keys: RespArg | readonly RespArg[], opts?: RequestOptions): Promise<number> {
    return this.integer('EXISTS', ['EXISTS', ...(Array.isArray(keys) ? keys : [keys as RespArg])], opts);
  }

  /** `PONG`, or the message echoed back. */
  async ping(message?: RespArg, opts?: RequestOptions): Promise<string> {
    const r = await this.command(message === undefined ? ['PING'] : ['PING', message], opts);
    if (typeof r === 'string') return r;
    if (Buffer.isBuffer(r)) return r.toString('utf8');
    throw unexpectedReply('PING', r);
  }

  /** INFO's text, as the server sent it. */
  async info(section?: string, opts?: RequestOptions): Promise<string> {
    const r = await this.command(section === undefined ? ['INFO'] : ['INFO', section], opts);
    if (Buffer.isBuffer(r)) return r.toString('utf8');
    throw unexpectedReply('INFO', r);
  }

  /** INFO, parsed into sections of fields (numbers where the value is a number). */
  async stats(opts?: RequestOptions): Promise<InfoSections> {
    return parseInfo(await this.info(undefined, opts));
  }

  /**
   * Closes the connection after the replies already asked for have arrived (we
   * half-close; the server answers what it has read, then closes). Destroys the
   * socket if that takes longer than the timeout.
   */
  async close(): Promise<void> {
    if (!this.closedErr) {
      this.closedErr = new KvError('CONNECTION', `connection to ${this.address} was closed by the client`);
      this.socket.end();
      if (this.timeoutMs > 0) {
        const timer = setTimeout(() => this.socket.destroy(), this.timeoutMs);
        void this.closedPromise.then(() => clearTimeout(timer));
      }
    }
    return this.closedPromise;
  }

  /** Drops the connection now; requests in flight reject with CONNECTION. */
  destroy(): void {
    this.closedErr ??= new KvError('CONNECTION', `connection to ${this.address} was closed by the client`);
    this.socket.destroy();
  }

  private async integer(name: string, args: readonly RespArg[], opts?: RequestOptions): Promise<number> {
    const r = await this.command(args, opts);
    if (typeof r === 'number') return r;
    throw unexpectedReply(name, r);
  }

  /** Writes issued in one tick are corked into one syscall, so pipelines go out as few packets. */
  private send(buf: Buffer): void {
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(buf);
  }

  private onData(chunk: Buffer): void {
    try {
      this.decoder.feed(chunk);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this.fail(new KvError('PROTOCOL', `${err.message} from ${this.address}; is it a dualkv or Redis server?`, { cause: err }));
    }
  }

  private onReply(reply: RespValue): void {
    const entry = this.queue.shift();
    if (entry === undefined) {
      this.fail(new KvError('PROTOCOL', `${this.address} sent a reply nobody asked for; closing the connection`));
      return;
    }
    if (entry.settled) return; // timed out already: this late reply is its, and is dropped
    entry.settled = true;
    if (reply instanceof ServerReplyError) entry.reject(reply);
    else entry.resolve(reply);
  }

  /** The stream cannot be trusted: every request in flight fails with `err`, and the connection closes. */
  private fail(err: KvError): void {
    this.closedErr ??= err;
    this.queue.failAll(() => err);
    this.socket.destroy();
  }
}

function commandName(a: RespArg): string {
  const s = typeof a === 'string' ? a : typeof a === 'number' ? String(a) : Buffer.from(a).toString('latin1');
  return s.length > 32 ? s.slice(0, 32).toUpperCase() + '…' : s.toUpperCase();
}
