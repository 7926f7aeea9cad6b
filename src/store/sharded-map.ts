/**
 * A Map split into shards by a hash of the key. A V8 Map holds at most 2^24
 * entries (past that every set throws), and growing one means building a table
 * twice its size while the old one is still live: one Map of millions of keys
 * both caps the key count and needs a large transient allocation at each doubling.
 * 64 shards lift the cap to 2^30 keys and make each doubling 1/64 of the size.
 */
const SHARD_BITS = 6;
const SHARDS = 1 << SHARD_BITS;

/**
 * FNV-1a over the key's char codes, folded to a shard index. Every byte counts, so
 * keys that share a long prefix and suffix still spread (hot path: once per
 * command; tens of nanoseconds for a typical key).
 */
export function shardOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h ^ (h >>> 16)) & (SHARDS - 1);
}

export class ShardedMap<V> {
  private readonly shards: Map<string, V>[] = Array.from({ length: SHARDS }, () => new Map<string, V>());
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(key: string): V | undefined {
    return (this.shards[shardOf(key)] as Map<string, V>).get(key);
  }

  has(key: string): boolean {
    return (this.shards[shardOf(key)] as Map<string, V>).has(key);
  }

  /** Sets the value; returns the one it replaced. */
  set(key: string, value: V): V | undefined {
    const shard = this.shards[shardOf(key)] as Map<string, V>;
    const old = shard.get(key);
    shard.set(key, value);
    if (old === undefined) this.count++;
    return old;
  }

  /** Deletes the key; returns the value it had. */
  delete(key: string): V | undefined {
    const shard = this.shards[shardOf(key)] as Map<string, V>;
    const old = shard.get(key);
    if (old !== undefined) {
      shard.delete(key);
      this.count--;
    }
    return old;
  }

  clear(): void {
    for (const s of this.shards) s.clear();
    this.count = 0;
  }

  *entries(): IterableIterator<[string, V]> {
    for (const s of this.shards) yield* s.entries();
  }

  [Symbol.iterator](): IterableIterator<[string, V]> {
    return this.entries();
  }
}
