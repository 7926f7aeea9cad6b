/**
 * RANDOMKEY's pick of a stored key, about uniform, over a ShardedMap, whose V8 Maps
 * have no random access.
 */
import type { ByteString } from '../../store/bytes.js';
import type { ShardedMap } from '../../store/sharded-map.js';

/** pick() steps at most this far along a Map's walk. */
const RANDOM_SKIP = 64;

export class RandomKeys {
  /** Per-Map walks, each going on from where it last stopped. */
  private readonly walks: Array<Iterator<string> | null> = [];

  constructor(private readonly map: ShardedMap<unknown>) {}

  /**
   * A stored key, about uniformly: a Map chosen with a chance in proportion to its size,
   * then a key a random number of steps (up to RANDOM_SKIP) along that Map's own walk,
   * which goes on from call to call. V8's Map has no random access; this costs at most
   * RANDOM_SKIP steps.
   */
  pick(): ByteString | undefined {
    let r = Math.floor(Math.random() * this.map.size);
    for (let i = 0; i < this.map.segmentCount; i++) {
      const m = this.map.segment(i) as Map<string, unknown>;
      if (r >= m.size) {
        r -= m.size;
        continue;
      }
      let skip = Math.floor(Math.random() * Math.min(m.size, RANDOM_SKIP));
      for (let guard = 0; guard < 2 * RANDOM_SKIP + 2; guard++) {
        const walk = this.walks[i] ?? m.keys();
        const next = walk.next();
        if (next.done === true) {
          this.walks[i] = null;
          continue;
        }
        this.walks[i] = walk;
        if (skip-- <= 0) return next.value;
      }
      return undefined;
    }
    return undefined;
  }

  /** Drops the walks (the map was emptied). */
  reset(): void {
    this.walks.length = 0;
  }
}
