/**
 * A Map split into shards by a hash of the key, so that no one V8 Map gets large.
 *
 * A V8 Map rebuilds its whole table when it doubles (a set) and when it shrinks to
 * half (a delete that leaves it a quarter full), all in one call. For a Map of 1M keys
 * that is one 30–45 ms stall of the event loop as it grows past 512K keys, and again
 * when the expiry sweep or a mass delete empties it (measured on Node 20); at 4M keys
 * a single doubling took over 500 ms. Spread over SHARDS Maps, each rebuild is 1/64
 * of that size. Redis rehashes incrementally for the same reason.
 *
 * A V8 Map also holds at most 2^24 entries (past that every set throws). A shard whose
 * Map holds `segmentSize` keys starts a further Map, so a very skewed key set still
 * fits; a lookup that misses then tries each of that shard's Maps.
 */
export const DEFAULT_SEGMENT_SIZE = 1 << 22;
export const SHARD_BITS = 6;

/**
 * The shard of a key, of 2^bits: a multiplicative hash over at most 64 of the key's
 * char codes (every one of a key up to 64 long, else an even stride from its end), so
 * that its cost is bounded whatever the key's size (about 20–40 ns for a 16-byte key). Written by hand: it runs on every
 * command, and V8 offers no access to the hash it keeps on each string.
 */
export function shardOf(key: string, bits = SHARD_BITS): number {
  const n = key.length;
  const step = n > 64 ? (n >> 6) + 1 : 1;
  let x = n;
  for (let i = n - 1; i >= 0; i -= step) x = Math.imul(x ^ key.charCodeAt(i), 0x01000193);
  x ^= x >>> 15;
  x = Math.imul(x, 0x2c1b3c6d);
  return (x ^ (x >>> 13)) & ((1 << bits) - 1);
}

export class ShardedMap<V> {
  /** Each shard's Maps: nearly always one. */
  private readonly shards: Map<string, V>[][];
  /** Every Map of every shard, in a fixed order (KeyRotor walks them in turn). */
  private readonly maps: Map<string, V>[] = [];
  private count = 0;

  /** `shardBits`: 2^shardBits shards (tests use 0: one shard). */
  constructor(
    private readonly segmentSize = DEFAULT_SEGMENT_SIZE,
    private readonly shardBits = SHARD_BITS,
  ) {
    this.shards = Array.from({ length: 1 << shardBits }, () => [new Map<string, V>()]);
    for (const s of this.shards) this.maps.push(s[0] as Map<string, V>);
  }

  get size(): number {
    return this.count;
  }

  /** How many Maps hold the keys (tests; KeyRotor). */
  get segmentCount(): number {
    return this.maps.length;
  }

  private shard(key: string): Map<string, V>[] {
    return this.shards[shardOf(key, this.shardBits)] as Map<string, V>[];
  }

  get(key: string): V | undefined {
    const segs = this.shard(key);
    if (segs.length === 1) return (segs[0] as Map<string, V>).get(key);
    for (const s of segs) {
      const v = s.get(key);
      if (v !== undefined) return v;
    }
    return undefined;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** Sets the value; returns the one it replaced. */
  set(key: string, value: V): V | undefined {
    const segs = this.shard(key);
    if (segs.length === 1) {
      // Hot path: the shard is one Map, not full.
      const only = segs[0] as Map<string, V>;
      const old = only.get(key);
      if (old !== undefined || only.size < this.segmentSize) {
        only.set(key, value);
        if (old === undefined) this.count++;
        return old;
      }
    }
    return this.setInSegments(segs, key, value);
  }

  /**
   * set() for a caller that knows whether the key is present (it has just looked, or
   * keeps an index that says): one lookup of the Map where set() needs two.
   */
  setKnown(key: string, value: V, present: boolean): void {
    const segs = this.shard(key);
    if (segs.length === 1) {
      const only = segs[0] as Map<string, V>;
      if (present) {
        only.set(key, value);
        return;
      }
      if (only.size < this.segmentSize) {
        only.set(key, value);
        this.count++;
        return;
      }
    }
    this.setInSegments(segs, key, value);
  }

  private setInSegments(segs: Map<string, V>[], key: string, value: V): V | undefined {
    for (const s of segs) {
      const old = s.get(key);
      if (old !== undefined) {
        s.set(key, value);
        return old;
      }
    }
    // A new key: into the shard's first Map with room (deletes make room in older ones), else a new one.
    let target: Map<string, V> | undefined;
    for (const s of segs) {
      if (s.size < this.segmentSize) {
        target = s;
        break;
      }
    }
    if (target === undefined) {
      target = new Map<string, V>();
      segs.push(target);
      this.maps.push(target);
    }
    target.set(key, value);
    this.count++;
    return undefined;
  }

  /** Deletes the key; returns the value it had. */
  delete(key: string): V | undefined {
    const segs = this.shard(key);
    for (const s of segs) {
      const old = s.get(key);
      if (old !== undefined) {
        s.delete(key);
        this.count--;
        return old;
      }
    }
    return undefined;
  }

  clear(): void {
    this.maps.length = 0;
    for (const segs of this.shards) {
      // An iterator over a dropped Map (a SCAN's) must not go on finding its old keys.
      for (let i = 1; i < segs.length; i++) (segs[i] as Map<string, V>).clear();
      segs.length = 1;
      const first = segs[0] as Map<string, V>;
      first.clear();
      this.maps.push(first);
    }
    this.count = 0;
  }

  /** The i-th Map (KeyRotor walks them in turn). */
  segment(i: number): Map<string, V> | undefined {
    return this.maps[i];
  }

  /** Every entry, shard by shard (within a shard, in the order the keys were first set). */
  *entries(): IterableIterator<[string, V]> {
    for (const s of this.maps) yield* s.entries();
  }

  [Symbol.iterator](): IterableIterator<[string, V]> {
    return this.entries();
  }
}

/**
 * Walks a ShardedMap's keys round and round, each call going on from where the
 * last stopped: the expiry sweep and eviction sampling visit every key in turn
 * without a fresh iterator each time (a Map's iterator survives sets and deletes).
 * Keys alone: an entries() iterator makes a [key, value] array per step, 32 MB of
 * garbage for a mass expiry of 1M keys.
 */
export class KeyRotor<V> {
  private seg = 0;
  private it: Iterator<string> | null = null;

  constructor(private readonly map: ShardedMap<V>) {}

  /** The next key, or undefined when the map is empty. */
  next(): string | undefined {
    if (this.map.size === 0) return undefined;
    // Every Map may be looked at once, twice round for the one the walk started in.
    for (let tries = 0; tries < 2 * (this.map.segmentCount + 1); tries++) {
      if (this.it === null) {
        const m = this.map.segment(this.seg);
        if (m === undefined) {
          this.seg = 0;
          continue;
        }
        this.it = m.keys();
      }
      const r = this.it.next();
      if (!r.done) return r.value;
      this.it = null;
      this.seg = this.seg + 1 < this.map.segmentCount ? this.seg + 1 : 0;
    }
    return undefined;
  }

  /** Starts again from the first entry (after the map was cleared). */
  reset(): void {
    this.seg = 0;
    this.it = null;
  }
}
