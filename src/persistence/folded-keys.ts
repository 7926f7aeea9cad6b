/**
 * The snapshot worker's keyspace: the live keys the files add up to, with their
 * versions and expiry times, and nothing else (no memory accounting, no sink, no
 * expiry index). It answers what a restart would load, so it follows the memory
 * backend's rules for a recovered mutation: a write whose expiry has passed deletes
 * the key, an EXPIRE changes the expiry and the version of a key that exists.
 */
import type { Mutation, StoredKey } from '../backend/types.js';
import type { ByteString } from '../store/bytes.js';
import { ShardedMap } from '../store/sharded-map.js';
import type { ReplayTarget } from './replay.js';

/**
 * A key's version and expiry, then its value, in one latin1 string: the worker's heap
 * has the same limit as the server's and holds every key, so a key must cost it no
 * more than it costs the server (an object per key cost about 50 bytes more, and a
 * restart in a small heap could no longer write its final snapshot).
 *
 * ```
 * 0   7 chars  version, big-endian (below 2^53)
 * 7   7 chars  expiry in ms, big-endian; 0: none
 * 14  …        the value
 * ```
 */
const HEADER = 14;
const TWO_32 = 0x1_0000_0000;

function fold(value: ByteString, version: number, expiresAt: number): string {
  const vh = Math.floor(version / TWO_32);
  const vl = version >>> 0;
  const eh = Math.floor(expiresAt / TWO_32);
  const el = expiresAt >>> 0;
  const header = String.fromCharCode(
    vh >>> 16, (vh >>> 8) & 0xff, vh & 0xff, vl >>> 24, (vl >>> 16) & 0xff, (vl >>> 8) & 0xff, vl & 0xff,
    eh >>> 16, (eh >>> 8) & 0xff, eh & 0xff, el >>> 24, (el >>> 16) & 0xff, (el >>> 8) & 0xff, el & 0xff,
  );
  // join, not +: a flat string in one copy (+ would keep a cons string of two).
  return [header, value].join('');
}

const latin1Slice = Buffer.prototype.latin1Slice;

/** The 7 bytes of a number below 2^53, big-endian, at `at`. */
function put7(bytes: Buffer, n: number, at: number): void {
  const hi = Math.floor(n / TWO_32);
  bytes[at] = (hi >>> 16) & 0xff;
  bytes[at + 1] = (hi >>> 8) & 0xff;
  bytes[at + 2] = hi & 0xff;
  bytes.writeUInt32BE(n >>> 0, at + 3);
}

/**
 * fold() of a value given as bytes [start, end) of `bytes`, whose 16 bytes before
 * `start` may be overwritten (DurableStore.recoverPut): the header goes there and header and
 * value are read out as one string.
 */
function foldInPlace(bytes: Buffer, start: number, end: number, version: number, expiresAt: number): string {
  put7(bytes, version, start - HEADER);
  put7(bytes, expiresAt, start - HEADER + 7);
  return latin1Slice.call(bytes, start - HEADER, end);
}

/** The 7-char big-endian number at `at`. */
function unfoldNumber(s: string, at: number): number {
  const hi = (s.charCodeAt(at) << 16) | (s.charCodeAt(at + 1) << 8) | s.charCodeAt(at + 2);
  const lo = ((s.charCodeAt(at + 3) << 24) | (s.charCodeAt(at + 4) << 16) | (s.charCodeAt(at + 5) << 8) | s.charCodeAt(at + 6)) >>> 0;
  return hi * TWO_32 + lo;
}

export class FoldedKeys implements ReplayTarget {
  // Segmented as the store is: one V8 Map holds at most 2^24 keys.
  private readonly map = new ShardedMap<string>();
  private revision_ = 0;

  /** `now`: keys whose expiry is before it (ms since the epoch) have expired; a key lives through its expiry millisecond. */
  constructor(private readonly now: number) {}

  get size(): number {
    return this.map.size;
  }

  get revision(): number {
    return this.revision_;
  }

  private expired(expiresAt: number): boolean {
    return expiresAt !== 0 && expiresAt < this.now;
  }

  private set(key: ByteString, value: ByteString, version: number, expiresAt: number): void {
    if (this.expired(expiresAt)) this.map.delete(key);
    else this.map.set(key, fold(value, version, expiresAt));
  }

  recoverPut(key: ByteString, bytes: Buffer, start: number, end: number, version: number, expiresAt: number): void {
    if (this.expired(expiresAt)) this.map.delete(key);
    else this.map.set(key, foldInPlace(bytes, start, end, version, expiresAt));
  }

  applyRecovered(m: Mutation): void {
    if (m.kind === 'put') this.set(m.key, m.value, m.version, m.expiresAt);
    else if (m.kind === 'del') this.map.delete(m.key);
    else if (m.kind === 'flush') this.map.clear();
    else {
      const held = this.map.get(m.key);
      if (held !== undefined) this.set(m.key, held.slice(HEADER), m.version, m.expiresAt);
    }
  }

  raiseRevision(atLeast: number): void {
    if (atLeast > this.revision_) this.revision_ = atLeast;
  }

  *entries(): IterableIterator<StoredKey> {
    for (const [key, s] of this.map.entries()) yield { key, value: s.slice(HEADER), version: unfoldNumber(s, 0), expiresAt: unfoldNumber(s, 7) };
  }
}
