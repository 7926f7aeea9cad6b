import type { Logger } from 'pino';
import type { RequestLedger } from '../../backend/request-ledger.js';
import { asKvError, KvError } from '../../errors.js';
import type { DatagramRequest, Opcode } from '../../protocol/datagram.js';
import { errorBody } from '../../protocol/datagram-reply.js';
import type { Reply } from '../../protocol/reply.js';
import type { ByteString } from '../../store/bytes.js';
import { refusedOnEveryRun, type ReplyCache } from './reply-cache.js';
import type { VerifiedAuth } from './udp-auth.js';
import type { Peer } from './udp-io.js';
import type { PeerState } from './udp-peers.js';

/** What SharedWrites needs of the UDP front-end it serves. */
export interface SharedWritesHost {
  readonly cache: ReplyCache;
  readonly log: Logger;
  /** The reply cache's window (--reply-cache-ttl), which the records keep too. */
  readonly windowMs: number;
  now(): number;
  /** True while the engine does not answer (its health check says so already). */
  engineAway(): boolean;
  /** Runs a command to its reply. */
  execute(session: PeerState['session'], args: ByteString[]): Promise<Reply>;
  /** The reply datagram for a command's reply (null: none to send). */
  encode(peer: PeerState, opcode: Opcode, id: number, requestSize: number, reply: Reply, auth: VerifiedAuth | null): Buffer | null;
  /** An error reply, no larger than the request. */
  refusal(id: number, opcode: Opcode, e: ReturnType<typeof errorBody>, requestSize: number, auth: VerifiedAuth | null): Buffer | null;
  send(buf: Buffer, to: Peer): void;
  countIdConflict(): void;
  countNotCached(): void;
  /** A request is in flight until the function it answers is called (a stop waits for them). */
  begin(): () => void;
}

/**
 * docs/PROTOCOL.md, udp "Across gateways": writes over an engine that keeps a request
 * record every gateway shares (request-ledger.ts). A write runs only if this gateway's
 * claim on it wins; otherwise it is answered with the reply another gateway recorded, or
 * dropped while that one has none yet. The reply cache still answers retries that reach
 * this gateway, before any claim.
 */
export class SharedWrites {
  /** Writes answered with the reply another gateway recorded. */
  hits = 0;
  /** Copies dropped because another gateway had claimed the request and had no reply yet. */
  running = 0;
  /** Claims, records or releases the engine did not take. */
  errors = 0;
  private warnedAt = -Infinity;

  constructor(
    private readonly host: SharedWritesHost,
    private readonly ledger: RequestLedger,
  ) {}

  get where(): string {
    return this.ledger.where;
  }

  run(req: DatagramRequest, args: ByteString[], peer: PeerState, rinfo: Peer, cacheKey: string, auth: VerifiedAuth | null): void {
    const host = this.host;
    const ledger = this.ledger;
    // `req` views the datagram, which is only valid during this call: keep numbers, not views.
    const { opcode, id, size, crc } = req;
    // The peer's session is shared by every key that sends from its port: the user this datagram was signed by, kept for when it runs.
    const user = peer.session.user;
    // Reserved first, so that a retry to this gateway meanwhile is neither claimed nor run.
    const entry = host.cache.reserve(cacheKey, crc, peer.source);
    const finish = host.begin();
    ledger
      .claim(cacheKey, crc, host.windowMs)
      .then(async (claim) => {
        switch (claim.kind) {
          case 'done':
            this.hits++;
            host.cache.complete(entry, claim.reply);
            host.send(claim.reply, rinfo);
            return;
          case 'running':
            host.cache.discard(entry);
            this.running++;
            return;
          case 'conflict': {
            host.cache.discard(entry);
            host.countIdConflict();
            const e = errorBody('ID_CONFLICT', `request ID ${id} was used for a different request in the last ${host.windowMs} ms (recorded by a gateway on the same engine); resend with a new ID`);
            const reply = host.refusal(id, opcode, e, size, auth);
            if (reply) host.send(reply, rinfo);
            return;
          }
          case 'claimed': {
            peer.session.user = user;
            const reply = await host.execute(peer.session, args);
            const buf = host.encode(peer, opcode, id, size, reply, auth);
            if (buf === null || refusedOnEveryRun(reply)) {
              // Any copy would get the same refusal: nothing to remember, here or there.
              host.cache.discard(entry);
              if (buf !== null) host.countNotCached();
              ledger.release(cacheKey, claim.token).catch((err: unknown) => this.failed(err, rinfo));
            } else {
              host.cache.complete(entry, buf);
              ledger.complete(cacheKey, crc, buf, claim.token).catch((err: unknown) => this.failed(err, rinfo));
            }
            if (buf !== null) host.send(buf, rinfo);
            return;
          }
        }
      })
      .catch((err: unknown) => {
        // The claim did not get through (the engine is away): nothing ran, the client sends again.
        host.cache.discard(entry);
        this.failed(err, rinfo);
        const kv = asKvError(err);
        const buf = host.encode(peer, opcode, id, size, { t: 'error', err: kv }, auth);
        if (buf !== null) host.send(buf, rinfo);
      })
      .finally(finish);
  }

  /** A record that could not be read or written: counted, and logged unless it is the engine being away. */
  private failed(err: unknown, rinfo: Peer): void {
    this.errors++;
    const client = `${rinfo.address}:${rinfo.port}`;
    if (!(err instanceof KvError && err.code === 'BACKEND_UNAVAILABLE')) {
      this.host.log.error({ err, transport: 'udp', client }, 'shared request record failed');
      return;
    }
    // The engine being away is said by its health check; a failure while it answers (a role
    // without the request prefix, say) is the operator's to see, at most once a second.
    const now = this.host.now();
    if (!this.host.engineAway() && now - this.warnedAt >= 1000) {
      this.warnedAt = now;
      this.host.log.warn({ transport: 'udp', client, reason: err.message }, 'shared request record failed; the write was refused');
    }
  }
}
