import { initialUser } from '../../commands/access.js';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { executeCommand } from '../../commands/execute.js';
import { lookupCommand } from '../../commands/table.js';
import type { CommandContext } from '../../commands/types.js';
import type { Frontend } from '../frontend.js';
import type { UdpConfig } from '../../config.js';
import { internalError } from '../../errors.js';
import { createOpLog } from '../../op-log.js';
import {
  decodeRequest,
  encodeErrorReply,
  Opcode,
  REFUSALS,
  type DatagramRequest,
} from '../../protocol/datagram.js';
import { DatagramError, RejectReason } from '../../protocol/datagram-error.js';
import { requestArgs } from '../../protocol/datagram-opcodes.js';
import { errorBody } from '../../protocol/datagram-reply.js';
import type { Reply } from '../../protocol/reply.js';
import type { StatSection } from '../../stats.js';
import type { ByteString } from '../../store/bytes.js';
import { PROTECTED_MODE_MESSAGE } from '../../auth/protected-mode.js';
import { useHmacEngine } from '../../protocol/datagram-auth.js';
import { refusedOnEveryRun, ReplyCache } from './reply-cache.js';
import { SharedWrites } from './udp-shared-writes.js';
import { DatagramAuthenticator, type UdpKeyring, type VerifiedAuth } from './udp-auth.js';
import { createDatagramIo, nativeHmacEngine, type DatagramIo, type Peer } from './udp-io.js';
import { largeReplyPolicy, PeerTable, type PeerState } from './udp-peers.js';
import { RejectLogLimiter } from '../../log-limiter.js';
import { UdpReplyEncoder } from './udp-reply-encoder.js';
import { UdpCounters, udpStatsSection } from './udp-stats.js';

export interface UdpFrontendOptions {
  readonly host: string;
  readonly port: number;
  readonly logOps: boolean;
  readonly udp: UdpConfig;
  /** The users' UDP keys (docs/PROTOCOL.md "Authenticated datagrams"); null: no datagram can authenticate. */
  readonly keys?: UdpKeyring | null;
  /** Milliseconds since the epoch, for the AUTH timestamp check; injectable for tests. */
  readonly now?: () => number;
}

/** Emitted as 'rejected' for every refused datagram (tests wait on it). */
export interface RejectEvent {
  readonly reason: RejectReason;
  readonly size: number;
  readonly client: string;
  /** Size of the error reply sent, or 0 when none was. */
  readonly replied: number;
}

const SWEEP_INTERVAL_MS = 5000;
/** Lines about new authenticated senders, at most this many a second (one per client socket, but a loop of one-shot clients must not flood the log). */
const AUTH_LOG_PER_SECOND = 10;

/**
 * The UDP front-end (docs/PROTOCOL.md, udp section). One socket (udp-io.ts: batched
 * recvmmsg/sendmmsg, or node:dgram). Each datagram is
 * checked whole by the codec before anything else; a refused one is counted,
 * logged (rate-limited) and, where its header can be read, answered with a small
 * error reply that is never larger than the datagram itself, as is every other
 * error reply; a reply larger than its request goes only to a peer allowed it
 * (--udp-large-replies-to). A request whose command is a write (the command
 * table's flag: PUT, DEL, EXPIRE, with or without extensions) passes through the
 * reply cache, so a retry is answered with the first reply and never applied
 * twice; one refused for its own bytes (a key over the limit) is refused again, so
 * it is not kept, and simply runs again, as reads do.
 */
export class UdpFrontend extends EventEmitter implements Frontend {
  readonly name = 'udp';
  private readonly io: DatagramIo;
  /** Why the batched socket is not in use under --udp-io auto, or null. */
  readonly ioFallbackReason: string | null;
  private listening = false;
  private readonly cache: ReplyCache;
  private readonly rejectLog: RejectLogLimiter;
  private readonly peers: PeerTable;
  private readonly auth: DatagramAuthenticator;
  private readonly authLog = new RejectLogLimiter(AUTH_LOG_PER_SECOND);
  private readonly now: () => number;
  private sweepTimer: NodeJS.Timeout | null = null;
  private closing = false;
  private pending = 0;
  private pendingDone: (() => void) | null = null;
  private readonly maxSize: number;
  private readonly counts = new UdpCounters();
  /** Writes over a request record the gateways share (udp-shared-writes.ts); null: the reply cache alone. */
  private readonly shared: SharedWrites | null;
  private readonly replies: UdpReplyEncoder;

  constructor(
    private readonly ctx: CommandContext,
    private readonly log: Logger,
    private readonly options: UdpFrontendOptions,
  ) {
    super();
    // The keys made from here on sign and check with the native HMAC when it is built.
    useHmacEngine(nativeHmacEngine());
    const u = options.udp;
    this.maxSize = u.maxDatagramSize;
    this.cache = new ReplyCache({ ttlMs: u.replyCacheTtlMs, maxEntries: u.replyCacheEntries, maxBytes: u.replyCacheBytes });
    this.rejectLog = new RejectLogLimiter(u.rejectLogPerSecond);
    this.replies = new UdpReplyEncoder(this.maxSize, log, this.rejectLog);
    this.auth = new DatagramAuthenticator(options.keys ?? null, u.authWindowMs);
    this.now = options.now ?? Date.now;
    const ledger = ctx.backend.requestLedger ?? null;
    this.shared =
      ledger === null
        ? null
        : new SharedWrites(
            {
              cache: this.cache,
              log: this.log,
              windowMs: u.replyCacheTtlMs,
              now: () => this.now(),
              engineAway: () => this.ctx.backend.writeBlocker() !== null,
              execute: (session, args) => this.execute(session, args),
              encode: (peer, opcode, id, size, reply, auth) => this.replies.forReply(peer, opcode, id, size, false, reply, auth),
              refusal: (id, opcode, e, size, auth) => this.replies.error(id, opcode, e, Math.min(size, this.maxSize), auth),
              send: (buf, to) => this.send(buf, to),
              countIdConflict: () => void this.counts.idConflicts++,
              countNotCached: () => void this.counts.notCached++,
              begin: () => {
                this.pending++;
                return () => {
                  if (--this.pending === 0) this.pendingDone?.();
                };
              },
            },
            ledger,
          );
    this.peers = new PeerTable(largeReplyPolicy(u.largeRepliesTo), options.logOps ? (client) => createOpLog(log.child({ transport: 'udp', client })) : null, initialUser(ctx));
    const { io, fallbackReason } = createDatagramIo(u.io, options.host, this.maxSize, {
      datagram: (msg, peer, wireSize) => this.onMessage(msg, peer, wireSize),
      error: (err) => this.onSocketError(err),
    });
    this.io = io;
    this.ioFallbackReason = fallbackReason;
    ctx.stats.registerSection('udp', () => this.statsSection());
  }

  /** 'batched' (recvmmsg/sendmmsg) or 'dgram' (node:dgram). */
  get ioKind(): 'batched' | 'dgram' {
    return this.io.kind;
  }

  async listen(): Promise<number> {
    const port = await this.io.listen(this.options.host, this.options.port);
    this.listening = true;
    this.sweepTimer = setInterval(() => this.cache.sweep(), Math.min(SWEEP_INTERVAL_MS, this.options.udp.replyCacheTtlMs));
    this.sweepTimer.unref();
    return port;
  }

  private onSocketError(err: NodeJS.ErrnoException): void {
    this.counts.sendErrors++;
    this.log.warn({ transport: 'udp', err: { code: err.code, message: err.message } }, 'UDP socket error');
  }

  /** `msg` is only valid during this call (udp-io.ts); nothing here keeps it. */
  private onMessage(msg: Buffer, rinfo: Peer, wireSize: number): void {
    this.counts.datagramsIn++;
    this.counts.bytesIn += wireSize;
    this.ctx.stats.bytesIn += wireSize;
    if (this.closing) return;
    let req: DatagramRequest;
    try {
      req = decodeRequest(msg, this.maxSize, wireSize);
    } catch (err) {
      if (err instanceof DatagramError) this.refuse(err, wireSize, rinfo);
      else this.log.error({ err, transport: 'udp' }, 'datagram decoder failed; datagram dropped');
      return;
    }
    let auth: VerifiedAuth | null;
    try {
      // docs/PROTOCOL.md "Authenticated datagrams", checks 13 to 17: after the codec's, before anything runs.
      const header = { id: req.id, opcode: req.opcode };
      if (this.ctx.protectedMode?.refuses(rinfo.address) === true) throw new DatagramError(RejectReason.PROTECTED_MODE, PROTECTED_MODE_MESSAGE, header);
      auth = this.auth.verify(req.options.auth, msg, header, this.now());
    } catch (err) {
      if (err instanceof DatagramError) {
        if (err.reason === RejectReason.UNKNOWN_KEY || err.reason === RejectReason.BAD_MAC) this.ctx.stats.countAuth('udp', false);
        this.refuse(err, wireSize, rinfo);
        return;
      }
      throw err;
    }
    this.counts.requests++;
    try {
      const peer = this.peers.get(rinfo);
      // Per datagram: the peer's session is shared by every key (and none) that sends from its port.
      peer.session.user = auth === null ? initialUser(this.ctx) : auth.user;
      // `req` views the datagram, which is only valid during this call: the command line copies it.
      const args = requestArgs(req.opcode, req.key.toString('latin1'), req.value.toString('latin1'), req.options);
      // docs/PROTOCOL.md, udp "Reply cache": at most once for every request whose command writes.
      if (lookupCommand(args[0] as string)?.write === true) this.runWrite(req, args, peer, rinfo, auth);
      else if (this.admit(req, auth, rinfo)) this.run(req, args, peer, rinfo, null, auth);
    } catch (err) {
      // A bug here must cost one request, never the server.
      this.log.error({ err, transport: 'udp', client: `${rinfo.address}:${rinfo.port}` }, 'request failed; no reply sent');
    }
  }

  /**
   * docs/PROTOCOL.md "Authenticated datagrams": the replay window, after the reply
   * cache. False when the datagram was refused (and answered as refusals are).
   */
  private admit(req: DatagramRequest, auth: VerifiedAuth | null, rinfo: Peer): boolean {
    if (auth === null) return true;
    let fresh: boolean;
    try {
      fresh = this.auth.admit(auth, { id: req.id, opcode: req.opcode }, this.now());
    } catch (err) {
      if (!(err instanceof DatagramError)) throw err;
      this.refuse(err, req.size, rinfo);
      return false;
    }
    if (fresh) {
      // One success per sender (a client socket), not per datagram: as one AUTH per TCP connection.
      this.ctx.stats.countAuth('udp', true);
      const suppressed = this.authLog.admit();
      if (suppressed !== null) {
        this.log.info({ transport: 'udp', client: `${rinfo.address}:${rinfo.port}`, user: auth.user.name, keyId: auth.keyId, suppressed: suppressed || undefined }, 'authenticated');
      }
    }
    return true;
  }

  /** docs/PROTOCOL.md, udp "Reply cache: at most once": once per (address, port, ID). */
  private runWrite(req: DatagramRequest, args: ByteString[], peer: PeerState, rinfo: Peer, auth: VerifiedAuth | null): void {
    const key = ReplyCache.key(rinfo.address, rinfo.port, req.id);
    const entry = this.cache.get(key);
    if (entry === undefined) {
      if (!this.admit(req, auth, rinfo)) return;
      if (this.shared === null) this.run(req, args, peer, rinfo, key, auth);
      else this.shared.run(req, args, peer, rinfo, key, auth);
      return;
    }
    if (entry.fingerprint !== req.crc) {
      // Same ID, different bytes: not a retry. Refuse rather than apply, so that
      // neither request can be applied twice; the client resends with a new ID.
      this.counts.idConflicts++;
      const e = errorBody('ID_CONFLICT', `request ID ${req.id} was used for a different request in the last ${this.options.udp.replyCacheTtlMs} ms; resend with a new ID`);
      const reply = this.replies.error(req.id, req.opcode, e, Math.min(req.size, this.maxSize), auth);
      if (reply) this.send(reply, rinfo);
      return;
    }
    if (entry.reply === null) {
      // The first copy is still running (e.g. waiting for fsync); its reply will answer this one too.
      this.counts.retriesInProgress++;
      return;
    }
    this.cache.countHit();
    this.send(entry.reply, rinfo);
  }

  /** Runs a command to its reply; a throw is a bug, answered as an internal error. */
  private async execute(session: PeerState['session'], args: ByteString[]): Promise<Reply> {
    try {
      return await executeCommand(this.ctx, session, args);
    } catch (err) {
      this.log.error({ err, transport: 'udp', client: session.client }, 'command failed');
      return { t: 'error', err: internalError(err) };
    }
  }

  /** Runs a request; `cacheKey` is set for a write, whose reply goes into the reply cache. */
  private run(req: DatagramRequest, args: ByteString[], peer: PeerState, rinfo: Peer, cacheKey: string | null, auth: VerifiedAuth | null): void {
    const session = peer.session;
    // `req` views the datagram, which is only valid during this call: keep numbers, not views.
    const { opcode, id, size, crc } = req;
    const wholeStats = opcode === Opcode.STATS && req.key.length === 0;
    let result: Reply | Promise<Reply>;
    try {
      result = executeCommand(this.ctx, session, args);
    } catch (err) {
      this.log.error({ err, transport: 'udp', client: session.client }, 'command failed');
      result = { t: 'error', err: internalError(err) };
    }
    if (!(result instanceof Promise)) {
      const buf = this.replies.forReply(peer, opcode, id, size, wholeStats, result, auth);
      if (cacheKey !== null && buf !== null) {
        if (refusedOnEveryRun(result)) this.counts.notCached++;
        else this.cache.store(cacheKey, crc, peer.source, buf);
      }
      if (buf !== null) this.send(buf, rinfo);
      return;
    }
    // Reserved before the command finishes, so that a retry meanwhile is not run too.
    const entry = cacheKey === null ? null : this.cache.reserve(cacheKey, crc, peer.source);
    this.pending++;
    result
      .catch((err: unknown): Reply => {
        this.log.error({ err, transport: 'udp', client: session.client }, 'command failed');
        return { t: 'error', err: internalError(err) };
      })
      .then((reply) => {
        const buf = this.replies.forReply(peer, opcode, id, size, wholeStats, reply, auth);
        if (entry !== null) {
          if (buf === null) this.cache.discard(entry);
          else if (refusedOnEveryRun(reply)) {
            this.cache.discard(entry);
            this.counts.notCached++;
          } else this.cache.complete(entry, buf);
        }
        if (buf !== null) this.send(buf, rinfo);
        if (--this.pending === 0) this.pendingDone?.();
      });
  }

  private refuse(err: DatagramError, size: number, rinfo: Peer): void {
    this.counts.rejected++;
    this.counts.rejectedBy[err.reason]++;
    const refusal = REFUSALS[err.reason];
    let replied = 0;
    if (refusal !== null && err.header !== null) {
      // Never larger than the datagram that caused it: no amplification.
      const reply = encodeErrorReply(err.header, refusal.status, `${refusal.code} ${err.message}`, Math.min(size, this.maxSize));
      if (reply !== null) {
        this.counts.errorReplies++;
        this.send(reply, rinfo);
        replied = reply.length;
      }
    }
    const client = `${rinfo.address}:${rinfo.port}`;
    const suppressed = this.rejectLog.admit();
    if (suppressed !== null) {
      this.log.warn(
        { transport: 'udp', client, reason: err.reason, detail: err.message, bytes: size, id: err.header?.id, replied: replied > 0, suppressed: suppressed || undefined },
        'datagram rejected',
      );
    }
    if (this.listenerCount('rejected') > 0) this.emit('rejected', { reason: err.reason, size, client, replied } satisfies RejectEvent);
  }

  private send(buf: Buffer, rinfo: Peer): void {
    if (!this.listening) {
      // The socket closed under a late reply (the shutdown timeout passed).
      this.counts.sendErrors++;
      this.log.debug({ transport: 'udp', client: `${rinfo.address}:${rinfo.port}` }, 'reply not sent: the socket is closed');
      return;
    }
    this.counts.datagramsOut++;
    this.counts.bytesOut += buf.length;
    this.ctx.stats.bytesOut += buf.length;
    this.io.send(buf, rinfo);
  }

  private statsSection(): StatSection {
    const { port, maxSize, replies, shared, cache } = this;
    const more = { rejectLogsSuppressed: this.rejectLog.suppressedTotal, replyCacheTtlMs: this.options.udp.replyCacheTtlMs, authSenders: this.auth.senders };
    return udpStatsSection(this.counts, { port, io: this.io.kind, maxSize, replies, shared, cache, ...more });
  }

  get port(): number {
    return this.listening ? this.io.port : 0;
  }

  /** Bytes the reply cache holds, for the memory limit. */
  get replyCacheBytes(): number {
    return this.cache.bytes;
  }

  /**
   * Stops reading new datagrams, waits (up to `timeoutMs`) for commands still
   * running to send their replies, then closes the socket.
   */
  async close(timeoutMs: number): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    if (this.pending > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        timer.unref();
        this.pendingDone = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    if (this.rejectLog.pending > 0) {
      this.log.warn({ transport: 'udp', suppressed: this.rejectLog.pending }, 'datagram rejections not logged (rate limit)');
    }
    this.cache.clear();
    if (this.listening) {
      this.listening = false;
      await this.io.close();
    }
  }
}
