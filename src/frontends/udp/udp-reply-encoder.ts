import type { Logger } from 'pino';
import { encodeSignedErrorReply, encodeSignedReply, REPLY_AUTH_BYTES } from '../../protocol/datagram-auth.js';
import { datagramSize, encodeErrorReply, encodeReply, isErrorStatus, Opcode, OPCODE_NAMES, Status } from '../../protocol/datagram.js';
import { opcodeSpec, type OpcodeSpec } from '../../protocol/datagram-opcodes.js';
import { errorBody, fitStats, replyBody, type ReplyBody } from '../../protocol/datagram-reply.js';
import type { Reply } from '../../protocol/reply.js';
import type { VerifiedAuth } from './udp-auth.js';
import type { PeerState } from './udp-peers.js';
import type { RejectLogLimiter } from '../../log-limiter.js';

/**
 * docs/PROTOCOL.md, udp "Amplification": the refusal of a reply larger than its
 * request, cut to the request's size like every error reply; what to do comes first.
 */
const LARGE_REPLY_REFUSAL = errorBody('DATAGRAM_TOO_LARGE', 'use TCP, or list this client in --udp-large-replies-to: the reply is larger than the request');

/**
 * The UDP front-end's reply datagrams: a command's reply as one datagram, within the
 * limits of docs/PROTOCOL.md (udp "Limits" and "Amplification"), signed when the
 * request was. Counts what it had to refuse, for STATS.
 */
export class UdpReplyEncoder {
  /** Replies that did not fit in one datagram (answered DATAGRAM_TOO_LARGE). */
  repliesTooLarge = 0;
  /** Replies larger than their request, to a peer not allowed them. */
  largeRepliesRefused = 0;

  constructor(
    private readonly maxSize: number,
    private readonly log: Logger,
    /** The budget the front-end's lines about refused datagrams share. */
    private readonly rejectLog: RejectLogLimiter,
  ) {}

  /**
   * The reply datagram for a command's reply to a `requestSize`-byte request: an
   * error reply is cut to the request's size, and a reply larger than the request
   * goes only to a peer allowed it. `wholeStats`: STATS, whose text is cut to fit.
   */
  forReply(peer: PeerState, opcode: Opcode, id: number, requestSize: number, wholeStats: boolean, reply: Reply, auth: VerifiedAuth | null): Buffer | null {
    let body: ReplyBody = replyBody(reply, (opcodeSpec(opcode) as OpcodeSpec).int);
    const cap = Math.min(requestSize, this.maxSize);
    if (isErrorStatus(body.status)) return this.error(id, opcode, body, cap, auth);
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
      return this.error(id, opcode, e, cap, auth);
    }
    // Extensions count too: a GET with WANT_VERSION of a short value may answer more than it asked.
    if (size > requestSize && !peer.largeReplies) {
      this.refuseLargeReply(peer, opcode, size, requestSize);
      return this.error(id, opcode, LARGE_REPLY_REFUSAL, cap, auth);
    }
    const fields = { opcode, id, status: body.status, value: body.value, extensions: body.extensions };
    return auth === null ? encodeReply(fields) : encodeSignedReply(fields, auth, auth.key);
  }

  /**
   * An error reply of at most `cap` bytes; to an authenticated request, signed
   * (docs/PROTOCOL.md "Authenticated datagrams": every reply to a datagram that passed the checks is).
   */
  error(id: number, opcode: number, e: { status: Status; value: string }, cap: number, auth: VerifiedAuth | null): Buffer | null {
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
}
