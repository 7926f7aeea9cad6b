/**
 * The memory backend's keys and what they cost: the map of stored strings
 * (stored-value.ts), the index of the keys with an expiry, and the bytes --maxmemory
 * counts. Every write of the map comes through here, so the counts always match it.
 */
import type { ByteString } from '../../store/bytes.js';
import { KeyRotor, ShardedMap } from '../../store/sharded-map.js';
import { hasExpiry, storedExpiry } from './stored-value.js';

/**
 * What the store's strings cost, as --maxmemory counts them. Node makes a string
 * from bytes on V8's heap when it is shorter than EXTERNAL_STRING_MIN, and outside it
 * (an external string, which --max-old-space-size does not see) when it is longer.
 */
export const EXTERNAL_STRING_MIN = 0xfbee9;
/** A heap string: a 16-byte header, then one byte a char, rounded up to 8. */
const STRING_HEADER = 16;
/** An external string's heap object and its malloc'd block's bookkeeping. */
const EXTERNAL_OVERHEAD = 64;
/** A Map entry's slots and its share of the hash table (about 30 bytes, measured; the table grows by doubling). */
export const ENTRY_OVERHEAD = 40;

/** The memory the data holds, split by where it lives. */
export interface DataMemory {
  /** On V8's heap: entries, keys and values shorter than EXTERNAL_STRING_MIN. */
  readonly heap: number;
  /** Outside it: long values. */
  readonly external: number;
}

/** What --maxmemory reads of the data (src/memory.ts). */
export interface DataMemorySource {
  readonly dataBytes: number;
  readonly heapBytes: number;
  readonly memory: DataMemory;
}

export class Keyspace implements DataMemorySource {
  /** Key → stored string. Read it directly; write it only through the methods below, which keep the counts. */
  readonly map = new ShardedMap<string>();
  /** Keys that have an expiry: what the sweep walks and volatile-* eviction samples. */
  private readonly volatile = new ShardedMap<true>();
  readonly allKeys = new KeyRotor(this.map);
  readonly volatileKeys = new KeyRotor(this.volatile);
  private heap = 0;
  private external = 0;
  /** Sum of (expiry − expiryBase) over the volatile keys, for INFO's avg_ttl. */
  private expirySum = 0;
  private readonly expiryBase: number;

  constructor(private readonly now: () => number) {
    this.expiryBase = now();
  }

  private count(s: string, sign: 1 | -1): void {
    if (s.length >= EXTERNAL_STRING_MIN) this.external += sign * (s.length + EXTERNAL_OVERHEAD);
    else this.heap += sign * ((STRING_HEADER + s.length + 7) & ~7);
  }

  store(key: ByteString, stored: string): void {
    this.accountStore(key, stored, this.map.set(key, stored));
  }

  /**
   * store() for a key whose stored string the caller has just read (`old`, undefined
   * when absent): one lookup of the map instead of two, and none of the expiry index
   * when the key had an expiry and keeps one (SET … EX over a key that has a TTL).
   */
  storeOver(key: ByteString, stored: string, old: string | undefined): void {
    this.map.setKnown(key, stored, old !== undefined);
    this.accountStore(key, stored, old);
  }

  private accountStore(key: ByteString, stored: string, old: string | undefined): void {
    const volatileNow = hasExpiry(stored);
    if (old === undefined) {
      this.heap += ENTRY_OVERHEAD;
      this.count(key, 1);
      if (volatileNow) this.index(key);
    } else {
      this.count(old, -1);
      const volatileBefore = hasExpiry(old);
      // A key that keeps an expiry stays in the index; only the sum for avg_ttl moves.
      if (volatileBefore && volatileNow) this.expirySum -= storedExpiry(old) - this.expiryBase;
      else if (volatileBefore) this.unindex(key, old);
      else if (volatileNow) this.index(key);
    }
    this.count(stored, 1);
    if (volatileNow) this.expirySum += storedExpiry(stored) - this.expiryBase;
  }

  /** A key gains an expiry: into the index the sweep walks. */
  private index(key: ByteString): void {
    this.volatile.setKnown(key, true, false);
    this.heap += ENTRY_OVERHEAD;
  }

  private unindex(key: ByteString, old: string): void {
    this.volatile.delete(key);
    this.heap -= ENTRY_OVERHEAD;
    this.expirySum -= storedExpiry(old) - this.expiryBase;
  }

  /** Removes a key; returns the bytes that freed. */
  remove(key: ByteString): number {
    const old = this.map.delete(key);
    if (old === undefined) return 0;
    const before = this.heap + this.external;
    this.heap -= ENTRY_OVERHEAD;
    this.count(key, -1);
    this.count(old, -1);
    if (hasExpiry(old)) this.unindex(key, old);
    return before - this.heap - this.external;
  }

  clear(): void {
    this.map.clear();
    this.volatile.clear();
    this.allKeys.reset();
    this.volatileKeys.reset();
    this.heap = 0;
    this.external = 0;
    this.expirySum = 0;
  }

  get volatileCount(): number {
    return this.volatile.size;
  }

  /** INFO's avg_ttl: ms to the volatile keys' expiry, on average. */
  avgTtl(): number {
    const expires = this.volatile.size;
    const avg = expires > 0 ? this.expirySum / expires + this.expiryBase - this.now() : 0;
    return Math.max(0, Math.round(avg));
  }

  get memory(): DataMemory {
    return { heap: this.heap, external: this.external };
  }

  get dataBytes(): number {
    return this.heap + this.external;
  }

  get heapBytes(): number {
    return this.heap;
  }
}
