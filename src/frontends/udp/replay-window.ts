/**
 * The replay windows of authenticated datagrams (docs/PROTOCOL.md "Authenticated
 * datagrams"): for each (key id, sender), the highest sequence number accepted and a
 * 64-bit map of the 64 below it, as DTLS keeps them (RFC 6347 §4.1.2.6). A sequence
 * number seen already, or 64 or more below the highest, is a replay.
 *
 * A window is needed only as long as a datagram it has seen could still pass the
 * timestamp check: up to twice the time window after its last use (a timestamp may
 * be ahead of the server's clock by the window, and then age by it). Windows idle
 * for longer are dropped. They are never dropped earlier, since that would let a
 * recorded datagram be replayed; at `maxWindows` a new sender is refused instead.
 */

/** Sequence numbers below the highest that a window still tells apart. */
export const REPLAY_WINDOW_SIZE = 64n;
const WINDOW_MASK = (1n << REPLAY_WINDOW_SIZE) - 1n;
/** Senders tracked at once: each costs about 100 bytes. */
export const MAX_REPLAY_WINDOWS = 65_536;
/** A full table is swept for idle windows at most this often. */
const SWEEP_EVERY_MS = 1000;

interface Window {
  top: bigint;
  seen: bigint;
  lastUsedAt: number;
}

export type Admission = 'new' | 'ok' | 'replayed' | 'full';

export class ReplayWindows {
  private readonly windows = new Map<number, Window>();
  private lastSweepAt = -Infinity;

  constructor(
    /** How long a window is kept after its last use: twice the time window. */
    private readonly keepMs: number,
    private readonly maxWindows = MAX_REPLAY_WINDOWS,
  ) {}

  /** The map key of (key id, sender): below 2^48, so a number holds it exactly. */
  static id(keyId: number, sender: number): number {
    return keyId * 2 ** 32 + sender;
  }

  /** Checks `sequence` for the sender `id` and, unless it is refused, marks it seen. */
  admit(id: number, sequence: bigint, now: number): Admission {
    const w = this.windows.get(id);
    if (w === undefined) {
      if (this.windows.size >= this.maxWindows && !this.sweep(now)) return 'full';
      this.windows.set(id, { top: sequence, seen: 1n, lastUsedAt: now });
      return 'new';
    }
    if (sequence > w.top) {
      const shift = sequence - w.top;
      w.seen = shift >= REPLAY_WINDOW_SIZE ? 1n : ((w.seen << shift) | 1n) & WINDOW_MASK;
      w.top = sequence;
    } else {
      const behind = w.top - sequence;
      if (behind >= REPLAY_WINDOW_SIZE) return 'replayed';
      const bit = 1n << behind;
      if ((w.seen & bit) !== 0n) return 'replayed';
      w.seen |= bit;
    }
    w.lastUsedAt = now;
    return 'ok';
  }

  get size(): number {
    return this.windows.size;
  }

  /** Drops the windows idle past keepMs; true when that made room. */
  private sweep(now: number): boolean {
    if (now - this.lastSweepAt < SWEEP_EVERY_MS) return false;
    this.lastSweepAt = now;
    for (const [id, w] of this.windows) if (now - w.lastUsedAt > this.keepMs) this.windows.delete(id);
    return this.windows.size < this.maxWindows;
  }
}
