import type { UdpKey } from '../../auth/users-file.js';
import type { AuthUser } from '../../commands/types.js';
import { macKey, macMatches, type MacKey } from '../../protocol/datagram-auth.js';
import { DatagramError, RejectReason, type PartialHeader } from '../../protocol/datagram-error.js';
import type { RequestAuth } from '../../protocol/datagram-extensions.js';
import { ReplayWindows } from './replay-window.js';

/**
 * The UDP front-end's checks of authenticated datagrams (docs/PROTOCOL.md
 * "Authenticated datagrams"), split in two around the reply cache: `verify` (key id,
 * MAC, timestamp) before it, so that the cache answers only datagrams a key holder
 * made; `admit` (the replay window) after it, so that a true retry the cache answers
 * is not refused for the sequence number its first copy used.
 */

/** What the front-end needs of the users (src/auth/access-control.ts's Credentials gives it). */
export interface UdpKeyring {
  /** Credentials are configured: a datagram without AUTH is refused. */
  readonly required: boolean;
  udpKey(id: number): { user: AuthUser; key: UdpKey } | undefined;
}

/** A datagram whose key and MAC checked: who it runs as, and what its reply is signed with. */
export interface VerifiedAuth {
  readonly user: AuthUser;
  readonly keyId: number;
  readonly sequence: bigint;
  readonly key: MacKey;
  /** ReplayWindows.id of its sender. */
  readonly window: number;
}

export class DatagramAuthenticator {
  /** Per key, so a reloaded users file (new UdpKey objects) makes new ones and old ones are collected. */
  private readonly keyObjects = new WeakMap<UdpKey, MacKey>();
  private readonly windows: ReplayWindows;

  constructor(
    private readonly keys: UdpKeyring | null,
    private readonly windowMs: number,
    maxWindows?: number,
  ) {
    this.windows = new ReplayWindows(2 * windowMs, maxWindows);
  }

  /** Senders whose replay windows are kept. */
  get senders(): number {
    return this.windows.size;
  }

  /**
   * Null when the datagram carries no AUTH and none is required (it runs as the
   * session's initial user). Otherwise its verified key, or a DatagramError naming the
   * first check that failed. `buf` is the whole datagram `auth` was read from.
   */
  verify(auth: RequestAuth | null, buf: Uint8Array, header: PartialHeader, now: number): VerifiedAuth | null {
    if (auth === null) {
      if (this.keys?.required !== true) return null;
      throw new DatagramError(RejectReason.UNAUTHENTICATED, 'authentication required: this server takes only datagrams signed with a UDP key (docs/PROTOCOL.md "Authenticated datagrams")', header);
    }
    const entry = this.keys?.udpKey(auth.keyId);
    if (entry === undefined) throw new DatagramError(RejectReason.UNKNOWN_KEY, `no user has UDP key ${auth.keyId}; check the key id the client was given`, header);
    const key = this.keyObject(entry.key);
    if (!macMatches(buf, auth.mac, key)) throw new DatagramError(RejectReason.BAD_MAC, `the MAC does not match the datagram under UDP key ${auth.keyId}: a wrong key, or a changed datagram`, header);
    const skew = auth.timestamp - now;
    if (!(Math.abs(skew) <= this.windowMs)) {
      throw new DatagramError(
        RejectReason.BAD_TIMESTAMP,
        `the timestamp is ${Math.round(Math.abs(skew) / 1000)} s ${skew < 0 ? 'behind' : 'ahead of'} the server's clock, outside --udp-auth-window ${this.windowMs / 1000} s; check the client's clock`,
        header,
      );
    }
    return { user: entry.user, keyId: auth.keyId, sequence: auth.sequence, key, window: ReplayWindows.id(auth.keyId, auth.sender) };
  }

  /** The replay window: true for the first datagram of a new sender; throws DatagramError for a replay. */
  admit(v: VerifiedAuth, header: PartialHeader, now: number): boolean {
    const a = this.windows.admit(v.window, v.sequence, now);
    if (a === 'replayed') throw new DatagramError(RejectReason.REPLAYED, `sequence number ${v.sequence} was used already, or is too old; a new request needs a new sequence number`, header);
    if (a === 'full') throw new DatagramError(RejectReason.TOO_MANY_SENDERS, 'too many senders are using UDP keys at once; retry later, or reuse a client rather than start new ones', header);
    return a === 'new';
  }

  private keyObject(k: UdpKey): MacKey {
    let o = this.keyObjects.get(k);
    if (o === undefined) {
      o = macKey(k.key);
      this.keyObjects.set(k, o);
    }
    return o;
  }
}
