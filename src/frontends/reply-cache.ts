/**
 * The UDP reply cache: at-most-once execution for retried requests
 * (docs/PROTOCOL.md, udp "Reply cache: at most once").
 *
 * An entry is keyed by (client address, client port, request ID) and holds the
 * encoded reply, so a retry is answered with the very same bytes and never
 * applied again. It lives for `ttlMs` from the first execution (the window, which
 * must cover the clients' whole retry span), and the cache is bounded by entries
 * and by bytes, evicting the least recently used entry first. An eviction ends an
 * entry's window early: that is the one case where a late retry could be applied
 * twice, so evictions are counted apart from expirations, for operators to see.
 *
 * Map keeps insertion order, and a hit moves its entry to the end, so the first
 * entry is always the least recently used one.
 */

export interface ReplyCacheOptions {
  readonly ttlMs: number;
  readonly maxEntries: number;
  readonly maxBytes: number;
  /** Milliseconds; injectable so tests can move time without sleeping. */
  readonly now?: () => number;
}

export interface CacheEntry {
  /** The request's CRC: a retry has the same bytes, so the same CRC. */
  readonly fingerprint: number;
  /** The encoded reply; null while the command is still running (e.g. waiting for fsync). */
  reply: Buffer | null;
  readonly expiresAt: number;
  /** Bytes charged to the cache for this entry. */
  size: number;
  /** False once evicted or expired. */
  live: boolean;
}

/** Map and object overhead charged per entry on top of the key and reply bytes. */
export const ENTRY_OVERHEAD_BYTES = 96;
/** Expired entries dropped per insert, so a single insert never does unbounded work. */
const SWEEP_PER_INSERT = 16;

export class ReplyCache {
  private readonly map = new Map<string, CacheEntry>();
  private readonly now: () => number;
  private bytesUsed = 0;
  hits = 0;
  /** Entries dropped by the limits before their window ended. */
  evictions = 0;
  expirations = 0;

  constructor(private readonly options: ReplyCacheOptions) {
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.map.size;
  }

  get bytes(): number {
    return this.bytesUsed;
  }

  static key(address: string, port: number, id: number): string {
    // '/' appears in neither IPv4 nor IPv6 addresses, so keys cannot collide.
    return `${address}/${port}/${id}`;
  }

  /** The live entry for `key`, now the most recently used; undefined when absent or expired. */
  get(key: string): CacheEntry | undefined {
    const entry = this.map.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.remove(key, entry);
      this.expirations++;
      return undefined;
    }
    this.map.delete(key);
    this.map.set(key, entry);
    return entry;
  }

  /** Records that a request is being executed: retries that arrive meanwhile find it pending. */
  reserve(key: string, fingerprint: number): CacheEntry {
    this.sweep(SWEEP_PER_INSERT);
    const old = this.map.get(key);
    if (old !== undefined) this.remove(key, old);
    const entry: CacheEntry = { fingerprint, reply: null, expiresAt: this.now() + this.options.ttlMs, size: key.length + ENTRY_OVERHEAD_BYTES, live: true };
    this.map.set(key, entry);
    this.bytesUsed += entry.size;
    this.evictToLimits();
    return entry;
  }

  /** Stores the reply of a reserved entry (unless it was evicted meanwhile). */
  complete(entry: CacheEntry, reply: Buffer): void {
    if (!entry.live) return;
    entry.reply = reply;
    entry.size += reply.length;
    this.bytesUsed += reply.length;
    this.evictToLimits();
  }

  /** Counts a retry answered from the cache. */
  countHit(): void {
    this.hits++;
  }

  /** Drops expired entries from the least recently used end, at most `max` of them. */
  sweep(max = Number.MAX_SAFE_INTEGER): number {
    const now = this.now();
    let n = 0;
    for (const [key, entry] of this.map) {
      if (n >= max || entry.expiresAt > now) break;
      this.remove(key, entry);
      this.expirations++;
      n++;
    }
    return n;
  }

  clear(): void {
    for (const entry of this.map.values()) entry.live = false;
    this.map.clear();
    this.bytesUsed = 0;
  }

  private evictToLimits(): void {
    const { maxEntries, maxBytes } = this.options;
    if (this.map.size <= maxEntries && this.bytesUsed <= maxBytes) return;
    const now = this.now();
    for (const [key, entry] of this.map) {
      if (this.map.size <= maxEntries && this.bytesUsed <= maxBytes) break;
      if (this.map.size === 1) break; // never evict the entry just added
      this.remove(key, entry);
      if (entry.expiresAt > now) this.evictions++;
      else this.expirations++;
    }
  }

  private remove(key: string, entry: CacheEntry): void {
    this.map.delete(key);
    entry.live = false;
    this.bytesUsed -= entry.size;
  }
}
