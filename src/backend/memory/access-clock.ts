import type { ByteString } from '../../store/bytes.js';

/** Access times are kept in units of this many ms (Redis's LRU clock has 1000). */
export const ACCESS_TICK_MS = 100;
const MIN_BUCKETS = 1 << 16;

/**
 * When each key was last used, for the LRU eviction policies, approximated as Redis
 * does (it keeps 24 bits a key and samples). Here a key's time lives in a bucket
 * chosen by a hash of the key, in one typed array with about two buckets a key: no
 * per-key field, so the keys cost nothing extra when no LRU policy is set, and 2
 * bytes a key on average when one is. Two keys that share a bucket share the later
 * time, so a key can look more recently used than it was, never less: the error only
 * ever keeps a key longer.
 */
export class AccessClock {
  private table: Uint32Array;
  private mask: number;
  private readonly base: number;

  constructor(
    private readonly now: () => number,
    keys: number,
  ) {
    this.base = now();
    const size = bucketsFor(keys);
    this.table = new Uint32Array(size);
    this.mask = size - 1;
  }

  private tick(): number {
    return Math.floor((this.now() - this.base) / ACCESS_TICK_MS) + 1;
  }

  touch(key: ByteString): void {
    this.table[hashKey(key) & this.mask] = this.tick();
  }

  /** About how long ago the key was last used, in ms. */
  idleMs(key: ByteString): number {
    return (this.tick() - (this.table[hashKey(key) & this.mask] as number)) * ACCESS_TICK_MS;
  }

  /** Keeps about two buckets a key as the keyspace grows; each new bucket inherits the time of the one it splits from. */
  fit(keys: number): void {
    const want = bucketsFor(keys);
    if (want <= this.table.length) return;
    const next = new Uint32Array(want);
    const oldMask = this.mask;
    for (let i = 0; i < want; i++) next[i] = this.table[i & oldMask] as number;
    this.table = next;
    this.mask = want - 1;
  }

  get bytes(): number {
    return this.table.byteLength;
  }

  clear(): void {
    this.table.fill(0);
  }
}

function bucketsFor(keys: number): number {
  let n = MIN_BUCKETS;
  while (n < keys * 2) n *= 2;
  return n;
}

/** FNV-1a over the key, or over its first and last 32 bytes and its length when longer: bounded work a call. */
export function hashKey(key: ByteString): number {
  let h = 0x811c9dc5;
  const n = key.length;
  if (n <= 64) {
    for (let i = 0; i < n; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  } else {
    for (let i = 0; i < 32; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
    for (let i = n - 32; i < n; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
    h = Math.imul(h ^ n, 0x01000193);
  }
  return h >>> 0;
}
