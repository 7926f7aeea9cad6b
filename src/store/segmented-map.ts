/**
 * A Map that grows past one V8 Map's limits: a V8 Map holds at most 2^24 entries
 * (past that every set throws), and each time one doubles it builds a table twice
 * its size while the old one is still live. Here keys fill one Map up to
 * `segmentSize` entries, then a further Map is started, and so on, so no Map ever
 * holds more, and no doubling needs more than a bounded transient table.
 *
 * Up to `segmentSize` keys (4M by default) this is exactly one Map and costs
 * nothing extra. Hashing each key to choose among fixed shards would spread
 * better, but costs a pass over the key's bytes in JS on every command (measured:
 * as much as the Map lookup itself). Past it, a lookup that misses tries each
 * segment (V8 keeps a string's hash once computed, so the later probes are cheap).
 */
export const DEFAULT_SEGMENT_SIZE = 1 << 22;

export class SegmentedMap<V> {
  private readonly segments: Map<string, V>[] = [new Map<string, V>()];
  private count = 0;

  constructor(private readonly segmentSize = DEFAULT_SEGMENT_SIZE) {}

  get size(): number {
    return this.count;
  }

  /** How many Maps hold the keys (for INFO and tests). */
  get segmentCount(): number {
    return this.segments.length;
  }

  get(key: string): V | undefined {
    const segs = this.segments;
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
    const segs = this.segments;
    if (segs.length === 1) {
      // Hot path: one Map, not full.
      const only = segs[0] as Map<string, V>;
      const old = only.get(key);
      if (old !== undefined || only.size < this.segmentSize) {
        only.set(key, value);
        if (old === undefined) this.count++;
        return old;
      }
    }
    return this.setInSegments(key, value);
  }

  private setInSegments(key: string, value: V): V | undefined {
    const segs = this.segments;
    for (const s of segs) {
      const old = s.get(key);
      if (old !== undefined) {
        s.set(key, value);
        return old;
      }
    }
    // A new key: into the first segment with room (deletes make room in older ones), else a new one.
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
    }
    target.set(key, value);
    this.count++;
    return undefined;
  }

  /** Deletes the key; returns the value it had. */
  delete(key: string): V | undefined {
    const segs = this.segments;
    if (segs.length === 1) {
      const only = segs[0] as Map<string, V>;
      const old = only.get(key);
      if (old !== undefined) {
        only.delete(key);
        this.count--;
      }
      return old;
    }
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
    this.segments.length = 1;
    (this.segments[0] as Map<string, V>).clear();
    this.count = 0;
  }

  /** The i-th Map (KeyRotor walks them in turn). */
  segment(i: number): Map<string, V> | undefined {
    return this.segments[i];
  }

  *entries(): IterableIterator<[string, V]> {
    for (const s of this.segments) yield* s.entries();
  }

  [Symbol.iterator](): IterableIterator<[string, V]> {
    return this.entries();
  }
}

/**
 * Walks a SegmentedMap's entries round and round, each call going on from where the
 * last stopped: the expiry sweep and eviction sampling visit every key in turn
 * without a fresh iterator each time (a Map's iterator survives sets and deletes).
 */
export class KeyRotor<V> {
  private seg = 0;
  private it: Iterator<[string, V]> | null = null;

  constructor(private readonly map: SegmentedMap<V>) {}

  /** The next entry, or undefined when the map is empty. */
  next(): [string, V] | undefined {
    if (this.map.size === 0) return undefined;
    for (let tries = 0; tries < 2 * (this.map.segmentCount + 1); tries++) {
      if (this.it === null) {
        const m = this.map.segment(this.seg);
        if (m === undefined) {
          this.seg = 0;
          continue;
        }
        this.it = m.entries();
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
