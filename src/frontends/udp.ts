import { initialUser } from '../commands/access.js';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { executeCommand } from '../commands/execute.js';
import { lookupCommand } from '../commands/table.js';
import type { CommandContext } from '../commands/types.js';
import type { Frontend } from './frontend.js';
import type { UdpConfig } from '../config.js';
import { KvError } from '../errors.js';
import { createOpLog } from '../op-log.js';
import {
  decodeRequest,
  datagramSize,
  encodeErrorReply,
  encodeReply,
  isErrorStatus,
  Opcode,
  OPCODE_NAMES,
  REFUSALS,
  Status,
  type DatagramRequest,
} from '../protocol/datagram.js';
import { DatagramError, REJECT_REASONS, RejectReason } from '../protocol/datagram-error.js';
import { opcodeSpec, requestArgs, type OpcodeSpec } from '../protocol/datagram-opcodes.js';
import { errorBody, fitStats, replyBody, type ReplyBody } from '../protocol/datagram-reply.js';
import type { Reply } from '../protocol/reply.js';
import type { StatSection } from '../stats.js';
import type { ByteString } from '../store/bytes.js';
import { PROTECTED_MODE_MESSAGE } from '../auth/protected-mode.js';
import { encodeSignedErrorReply, encodeSignedReply, REPLY_AUTH_BYTES, useHmacEngine } from '../protocol/datagram-auth.js';
import { refusedOnEveryRun, ReplyCache } from './reply-cache.js';
import { SharedWrites } from './udp-shared-writes.js';
import { DatagramAuthenticator, type UdpKeyring, type VerifiedAuth } from './udp-auth.js';
import { createDatagramIo, nativeHmacEngine, type DatagramIo, type Peer } from './udp-io.js';
import { largeReplyPolicy, PeerTable, type PeerState } from './udp-peers.js';
import { RejectLogLimiter } from './udp-reject-log.js';

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
 * docs/PROTOCOL.md, udp "Amplification": the refusal of a reply larger than its
 * request, cut to the request's size like every error reply; what to do comes first.
 */
const LARGE_REPLY_REFUSAL = errorBody('DATAGRAM_TOO_LARGE', 'use TCP, or list this client in --udp-large-replies-to: the reply is larger than the request');

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
  // Counters for STATS.
  private datagramsIn = 0;
  private datagramsOut = 0;
  private bytesIn = 0;
  private bytesOut = 0;
  private requests = 0;
  private rejected = 0;
  private readonly rejectedBy = Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>;
  private errorReplies = 0;
  private idConflicts = 0;
  private retriesInProgress = 0;
  /** Writes over a request record the gateways share (udp-shared-writes.ts); null: the reply cache alone. */
  private readonly shared: SharedWrites | null;
  private repliesTooLarge = 0;
  private largeRepliesRefused = 0;
  private notCached = 0;
  private sendErrors = 0;

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
              encode: (peer, opcode, id, size, reply, auth) => this.encodeFor(peer, opcode, id, size, false, reply, auth),
              refusal: (id, opcode, e, size, auth) => this.errorReply(id, opcode, e, Math.min(size, this.maxSize), auth),
              send: (buf, to) => this.send(buf, to),
              countIdConflict: () => void this.idConflicts++,
              countNotCached: () => void this.notCached++,
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
    this.sendErrors++;
    this.log.warn({ transport: 'udp', err: { code: err.code, message: err.message } }, 'UDP socket error');
  }

  /** `msg` is only valid during this call (udp-io.ts); nothing here keeps it. */
  private onMessage(msg: Buffer, rinfo: Peer, wireSize: number): void {
    this.datagramsIn++;
    this.bytesIn += wireSize;
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
      // docs/PROTOCOL.md "Authenticated datagrams", checks 13 to 16: after the codec's, before anything runs.
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
    this.requests++;
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
      this.idConflicts++;
      const e = errorBody('ID_CONFLICT', `request ID ${req.id} was used for a different request in the last ${this.options.udp.replyCacheTtlMs} ms; resend with a new ID`);
      const reply = this.errorReply(req.id, req.opcode, e, Math.min(req.size, this.maxSize), auth);
      if (reply) this.send(reply, rinfo);
      return;
    }
    if (entry.reply === null) {
      // The first copy is still running (e.g. waiting for fsync); its reply will answer this one too.
      this.retriesInProgress++;
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
      return { t: 'error', err: new KvError('SERVER', 'internal error; see the server log', { cause: err }) };
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
      result = { t: 'error', err: new KvError('SERVER', 'internal error; see the server log', { cause: err }) };
    }
    if (!(result instanceof Promise)) {
      const buf = this.encodeFor(peer, opcode, id, size, wholeStats, result, auth);
      if (cacheKey !== null && buf !== null) {
        if (refusedOnEveryRun(result)) this.notCached++;
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
        return { t: 'error', err: new KvError('SERVER', 'internal error; see the server log', { cause: err }) };
      })
      .then((reply) => {
        const buf = this.encodeFor(peer, opcode, id, size, wholeStats, reply, auth);
        if (entry !== null) {
          if (buf === null) this.cache.discard(entry);
          else if (refusedOnEveryRun(reply)) {
            this.cache.discard(entry);
            this.notCached++;
          } else this.cache.complete(entry, buf);
        }
        if (buf !== null) this.send(buf, rinfo);
        if (--this.pending === 0) this.pendingDone?.();
      });
  }

  /**
   * The reply datagram for a command's reply to a `requestSize`-byte request.
   * docs/PROTOCOL.md, udp "Amplification": an error reply is cut to the request's
   * size, and a reply larger than the request goes only to a peer allowed it.
   */
  private encodeFor(peer: PeerState, opcode: Opcode, id: number, requestSize: number, wholeStats: boolean, reply: Reply, auth: VerifiedAuth | null): Buffer | null {
    let body: ReplyBody = replyBody(reply, (opcodeSpec(opcode) as OpcodeSpec).int);
    const cap = Math.min(requestSize, this.maxSize);
    if (isErrorStatus(body.status)) return this.errorReply(id, opcode, body, cap, auth);
    // A signed reply carries its AUTH extension too, and must still fit.
    const authBytes = auth === null ? 0 : REPLY_AUTH_BYTES;
    if (wholeStats && body.status === Status.OK) {
      const fitted = fitStats(body.value, this.maxSize - authBytes);
      if (fitted !== null) body = { status: Status.OK, value: fitted };
    }
    const size = datagramSize(body) + authBytes;
    if (size > this.maxSize) {
      // docs/PROTOCOL.md, udp "Limits": one reply is one datagram; larger ones go over TCP.
      this.repliesTooLarge++;
      const e = errorBody(
        'DATAGRAM_TOO_LARGE',
        `a reply of ${body.value.length} bytes does not fit in one datagram (--max-datagram-size ${this.maxSize}); use TCP (kv-tcp) for it`,
      );
      return this.errorReply(id, opcode, e, cap, auth);
    }
    // Extensions count too: a GET with WANT_VERSION of a short value may answer more than it asked.
    if (size > requestSize && !peer.largeReplies) {
      this.refuseLargeReply(peer, opcode, size, requestSize);
      return this.errorReply(id, opcode, LARGE_REPLY_REFUSAL, cap, auth);
    }
    const fields = { opcode, id, status: body.status, value: body.value, extensions: body.extensions };
    return auth === null ? encodeReply(fields) : encodeSignedReply(fields, auth, auth.key);
  }

  /**
   * An error reply of at most `cap` bytes; to an authenticated request, signed
   * (docs/PROTOCOL.md "Authenticated datagrams": every reply to a datagram that passed the checks is).
   */
  private errorReply(id: number, opcode: number, e: { status: Status; value: string }, cap: number, auth: VerifiedAuth | null): Buffer | null {
    if (auth === null) return encodeErrorReply({ id, opcode }, e.status, e.value, cap);
    return encodeSignedErrorReply({ id, opcode }, e.status, e.value, cap, auth, auth.key);
  }

  private refuseLargeReply(peer: PeerState, opcode: Opcode, bytes: number, request: number): void {
    this.largeRepliesRefused++;
    // The same budget as the lines about refused datagrams, so that together they cannot fill the disk.
    const suppressed = this.rejectLog.admit();
    if (suppressed === null) return;
    this.log.warn(
      { transport: 'udp', client: peer.session.client, opcode: OPCODE_NAMES[opcode], bytes, request, suppressed: suppressed || undefined },
      'large UDP reply refused',
    );
  }

  private refuse(err: DatagramError, size: number, rinfo: Peer): void {
    this.rejected++;
    this.rejectedBy[err.reason]++;
    const refusal = REFUSALS[err.reason];
    let replied = 0;
    if (refusal !== null && err.header !== null) {
      // Never larger than the datagram that caused it: no amplification.
      const reply = encodeErrorReply(err.header, refusal.status, `${refusal.code} ${err.message}`, Math.min(size, this.maxSize));
      if (reply !== null) {
        this.errorReplies++;
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
      this.sendErrors++;
      this.log.debug({ transport: 'udp', client: `${rinfo.address}:${rinfo.port}` }, 'reply not sent: the socket is closed');
      return;
    }
    this.datagramsOut++;
    this.bytesOut += buf.length;
    this.ctx.stats.bytesOut += buf.length;
    this.io.send(buf, rinfo);
  }

  private statsSection(): StatSection {
    const out: StatSection = {
      udp_port: this.port,
      udp_io: this.io.kind,
      udp_max_datagram_size: this.maxSize,
      udp_datagrams_received: this.datagramsIn,
      udp_datagrams_sent: this.datagramsOut,
      udp_bytes_received: this.bytesIn,
      udp_bytes_sent: this.bytesOut,
      udp_requests: this.requests,
      udp_rejected: this.rejected,
    };
    for (const r of REJECT_REASONS) out[`udp_rejected_${r}`] = this.rejectedBy[r];
    Object.assign(out, {
      udp_error_replies_sent: this.errorReplies,
      udp_reject_logs_suppressed: this.rejectLog.suppressedTotal,
      udp_replies_too_large: this.repliesTooLarge,
      udp_large_replies_refused: this.largeRepliesRefused,
      udp_id_conflicts: this.idConflicts,
      udp_retries_while_running: this.retriesInProgress,
      udp_shared_record: this.shared?.where ?? 'none',
      udp_shared_record_hits: this.shared?.hits ?? 0,
      udp_shared_record_running: this.shared?.running ?? 0,
      udp_shared_record_errors: this.shared?.errors ?? 0,
      udp_send_errors: this.sendErrors,
      udp_reply_cache_hits: this.cache.hits,
      udp_reply_cache_evictions: this.cache.evictions,
      udp_reply_cache_evictions_other_source: this.cache.evictionsOtherSource,
      udp_reply_cache_skipped: this.notCached,
      udp_reply_cache_sources: this.cache.sourceCount,
      udp_reply_cache_expired: this.cache.expirations,
      udp_reply_cache_entries: this.cache.size,
      udp_reply_cache_bytes: this.cache.bytes,
      udp_reply_cache_ttl_ms: this.options.udp.replyCacheTtlMs,
      udp_auth_senders: this.auth.senders,
    });
    return out;
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
