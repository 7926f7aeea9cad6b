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
 * The recency order is a doubly linked list through the entries (head: least
 * recently used), so taking the oldest entry is O(1). Iterating a Map from its
 * start would not be: a Map that has entries deleted at the front keeps holes
 * there until it is rehashed, and every new iterator walks over them.
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

interface Node extends CacheEntry {
  readonly key: string;
  prev: Node | null;
  next: Node | null;
}

/** Map and object overhead charged per entry on top of the key and reply bytes. */
export const ENTRY_OVERHEAD_BYTES = 96;
/** Expired entries dropped per insert, so a single insert never does unbounded work. */
const SWEEP_PER_INSERT = 16;

export class ReplyCache {
  private readonly map = new Map<string, Node>();
  private head: Node | null = null;
  private tail: Node | null = null;
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
    const node = this.map.get(key);
    if (node === undefined) return undefined;
    if (node.expiresAt <= this.now()) {
      this.remove(node);
      this.expirations++;
      return undefined;
    }
    if (node !== this.tail) {
      this.unlink(node);
      this.append(node);
    }
    return node;
  }

  /** Records that a request is being executed: retries that arrive meanwhile find it pending. */
  reserve(key: string, fingerprint: number): CacheEntry {
    this.sweep(SWEEP_PER_INSERT);
    const old = this.map.get(key);
    if (old !== undefined) this.remove(old);
    const node: Node = {
      key,
      fingerprint,
      reply: null,
      expiresAt: this.now() + this.options.ttlMs,
      size: key.length + ENTRY_OVERHEAD_BYTES,
      live: true,
      prev: null,
      next: null,
    };
    this.map.set(key, node);
    this.append(node);
    this.bytesUsed += node.size;
    this.evictToLimits();
    return node;
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
    while (this.head !== null && n < max && this.head.expiresAt <= now) {
      this.remove(this.head);
      this.expirations++;
      n++;
    }
    return n;
  }

  clear(): void {
    for (const node of this.map.values()) node.live = false;
    this.map.clear();
    this.head = this.tail = null;
    this.bytesUsed = 0;
  }

  private evictToLimits(): void {
    const { maxEntries, maxBytes } = this.options;
    const now = this.now();
    // Never the entry just added (the tail), even when it alone is over the byte limit.
    while ((this.map.size > maxEntries || this.bytesUsed > maxBytes) && this.head !== null && this.head !== this.tail) {
      const oldest = this.head;
      this.remove(oldest);
      if (oldest.expiresAt > now) this.evictions++;
      else this.expirations++;
    }
  }

  private append(node: Node): void {
    node.prev = this.tail;
    node.next = null;
    if (this.tail !== null) this.tail.next = node;
    else this.head = node;
    this.tail = node;
  }

  private unlink(node: Node): void {
    if (node.prev !== null) node.prev.next = node.next;
    else this.head = node.next;
    if (node.next !== null) node.next.prev = node.prev;
    else this.tail = node.prev;
    node.prev = node.next = null;
  }

  private remove(node: Node): void {
    this.map.delete(node.key);
    this.unlink(node);
    node.live = false;
    this.bytesUsed -= node.size;
  }
}
