import type { ErrorCode } from '../../errors.js';
import type { Reply } from '../../protocol/reply.js';

/**
 * The UDP reply cache: at-most-once execution for retried requests
 * (docs/PROTOCOL.md, udp "Reply cache: at most once").
 *
 * An entry is keyed by (client address, client port, request ID) and holds the
 * encoded reply, so a retry is answered with the very same bytes and never
 * applied again. It lives for `ttlMs` from the first execution (the window, which
 * must cover the clients' whole retry span). An eviction ends an entry's window
 * early: that is the one case where a late retry could be applied twice, so
 * evictions are counted apart from expirations, for operators to see.
 *
 * The cache is bounded by entries and by bytes, and fair between sources (an IPv4
 * address or an IPv6 /64, see udp-peers.ts): at a limit it evicts the least
 * recently used entry of the heaviest source, the one with the largest share of
 * either limit (its dominant share, as in Dominant Resource Fairness). So a flood
 * from one source pushes out its own entries and nobody else's, while a source
 * alone may still fill the whole cache.
 *
 * Every entry is on two doubly linked lists: the cache's, in the order entries were
 * made (which is the order they expire in, since every window is as long), and its
 * source's, least recently used first. Sources sit in a max-heap by dominant share.
 * Insert and evict are O(log sources); nothing walks the entries. Iterating a Map
 * from its start would not do either: a Map that has entries deleted at the front
 * keeps holes there until it is rehashed, and every new iterator walks over them.
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
  /** False once evicted, expired or discarded. */
  live: boolean;
}

interface Source {
  readonly name: string;
  /** This source's entries, least recently used first. */
  head: Node | null;
  tail: Node | null;
  entries: number;
  bytes: number;
  /** max(entries / maxEntries, bytes / maxBytes). */
  share: number;
  heapIndex: number;
}

interface Node extends CacheEntry {
  readonly key: string;
  readonly source: Source;
  /** The cache's list, oldest first. */
  prev: Node | null;
  next: Node | null;
  /** The source's list, least recently used first. */
  sprev: Node | null;
  snext: Node | null;
}

/** Map and object overhead charged per entry on top of the key and reply bytes. */
export const ENTRY_OVERHEAD_BYTES = 96;
/** Expired entries dropped per insert, so a single insert never does unbounded work. */
const SWEEP_PER_INSERT = 16;

/**
 * Refusals decided by the request's own bytes and the limits fixed at start: every
 * copy of the request, whenever it arrives, gets the same one.
 */
const REFUSED_BY_ITS_BYTES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'KEY_TOO_LARGE',
  'VALUE_TOO_LARGE',
  'WRONG_ARITY',
  'UNKNOWN_COMMAND',
  'SYNTAX',
  'NOT_SUPPORTED',
]);

/**
 * docs/PROTOCOL.md, udp "Reply cache" (what is not cached): true for a write's reply
 * that any copy of the request would get again, so there is nothing to remember.
 *
 * Only a refusal by the request's own bytes qualifies. A write that changed nothing
 * for a reason that can pass (a DEL of a missing key, OOM, READ_ONLY while the log
 * is failing) must stay cached: the network may deliver a copy after the reply, and
 * by then the key may exist, memory may be free or the log recovered, so the copy
 * would take effect after the client was told it had none.
 */
export function refusedOnEveryRun(reply: Reply): boolean {
  return reply.t === 'error' && REFUSED_BY_ITS_BYTES.has(reply.err.code);
}

export class ReplyCache {
  private readonly map = new Map<string, Node>();
  private readonly sources = new Map<string, Source>();
  /** Sources by dominant share, heaviest at 0. */
  private readonly heap: Source[] = [];
  private head: Node | null = null;
  private tail: Node | null = null;
  private readonly now: () => number;
  private bytesUsed = 0;
  hits = 0;
  /** Entries dropped by the limits before their window ended. */
  evictions = 0;
  /** Of those, entries of the source whose insert made room for itself (a source pushing out its own). */
  evictionsOwnSource = 0;
  /** Of those, entries of another source: what fairness keeps low. */
  evictionsOtherSource = 0;
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

  /** Sources with at least one entry. */
  get sourceCount(): number {
    return this.heap.length;
  }

  static key(address: string, port: number, id: number): string {
    // '/' appears in neither IPv4 nor IPv6 addresses, so keys cannot collide.
    return `${address}/${port}/${id}`;
  }

  /** The live entry for `key`, now its source's most recently used; undefined when absent or expired. */
  get(key: string): CacheEntry | undefined {
    const node = this.map.get(key);
    if (node === undefined) return undefined;
    if (node.expiresAt <= this.now()) {
      this.remove(node);
      this.expirations++;
      return undefined;
    }
    const s = node.source;
    if (node !== s.tail) {
      unlinkFromSource(node);
      appendToSource(node);
    }
    return node;
  }

  /**
   * Records that a request from `source` is being executed: retries that arrive
   * meanwhile find it pending. Complete it with its reply, or discard it.
   */
  reserve(key: string, fingerprint: number, source: string): CacheEntry {
    const node = this.insert(key, fingerprint, source, null);
    this.evictToLimits(node);
    return node;
  }

  /** Stores a finished request's reply in one step. */
  store(key: string, fingerprint: number, source: string, reply: Buffer): void {
    this.evictToLimits(this.insert(key, fingerprint, source, reply));
  }

  /** Stores the reply of a reserved entry (unless it was evicted meanwhile). */
  complete(entry: CacheEntry, reply: Buffer): void {
    if (!entry.live) return;
    const node = entry as Node;
    node.reply = reply;
    this.charge(node, reply.length);
    this.evictToLimits(node);
  }

  /** Drops a reserved entry that is not to be kept after all; it is neither an eviction nor an expiry. */
  discard(entry: CacheEntry): void {
    if (entry.live) this.remove(entry as Node);
  }

  /** Counts a retry answered from the cache. */
  countHit(): void {
    this.hits++;
  }

  /** Drops expired entries, oldest first, at most `max` of them. */
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
    this.sources.clear();
    this.heap.length = 0;
    this.head = this.tail = null;
    this.bytesUsed = 0;
  }

  private insert(key: string, fingerprint: number, sourceName: string, reply: Buffer | null): Node {
    this.sweep(SWEEP_PER_INSERT);
    const old = this.map.get(key);
    if (old !== undefined) this.remove(old);
    let source = this.sources.get(sourceName);
    if (source === undefined) {
      source = { name: sourceName, head: null, tail: null, entries: 0, bytes: 0, share: 0, heapIndex: this.heap.length };
      this.sources.set(sourceName, source);
      this.heap.push(source);
    }
    const node: Node = {
      key,
      fingerprint,
      reply,
      expiresAt: this.now() + this.options.ttlMs,
      size: 0,
      live: true,
      source,
      prev: this.tail,
      next: null,
      sprev: null,
      snext: null,
    };
    this.map.set(key, node);
    if (this.tail !== null) this.tail.next = node;
    else this.head = node;
    this.tail = node;
    appendToSource(node);
    source.entries++;
    this.charge(node, key.length + ENTRY_OVERHEAD_BYTES + (reply?.length ?? 0));
    return node;
  }

  /** Adds `bytes` to an entry and its source (the share only grows: up the heap). */
  private charge(node: Node, bytes: number): void {
    node.size += bytes;
    node.source.bytes += bytes;
    this.bytesUsed += bytes;
    this.reweigh(node.source);
    this.siftUp(node.source.heapIndex);
  }

  private evictToLimits(added: Node): void {
    const { maxEntries, maxBytes } = this.options;
    const now = this.now();
    while (this.map.size > maxEntries || this.bytesUsed > maxBytes) {
      const victim = this.victim(added);
      if (victim === null) break;
      this.remove(victim);
      if (victim.expiresAt <= now) this.expirations++;
      else {
        this.evictions++;
        if (victim.source === added.source) this.evictionsOwnSource++;
        else this.evictionsOtherSource++;
      }
    }
  }

  /**
   * The heaviest source's least recently used entry, but never `added`, even when it
   * alone is over the byte limit: then the same source's next entry, or the
   * next-heaviest source's (a child of the heap's root).
   */
  private victim(added: Node): Node | null {
    const top = this.heap[0];
    if (top === undefined) return null;
    if (top.head !== added) return top.head;
    if (added.snext !== null) return added.snext;
    const a = this.heap[1];
    const b = this.heap[2];
    const next = a === undefined ? b : b === undefined || a.share >= b.share ? a : b;
    return next?.head ?? null;
  }

  private remove(node: Node): void {
    this.map.delete(node.key);
    if (node.prev !== null) node.prev.next = node.next;
    else this.head = node.next;
    if (node.next !== null) node.next.prev = node.prev;
    else this.tail = node.prev;
    node.prev = node.next = null;
    unlinkFromSource(node);
    node.live = false;
    this.bytesUsed -= node.size;
    const s = node.source;
    s.entries--;
    s.bytes -= node.size;
    if (s.entries === 0) {
      this.sources.delete(s.name);
      this.heapRemove(s.heapIndex);
    } else {
      this.reweigh(s);
      this.siftDown(s.heapIndex);
    }
  }

  private reweigh(s: Source): void {
    s.share = Math.max(s.entries / this.options.maxEntries, s.bytes / this.options.maxBytes);
  }

  private heapRemove(i: number): void {
    const last = this.heap.pop() as Source;
    if (i === this.heap.length) return;
    this.heap[i] = last;
    last.heapIndex = i;
    this.siftDown(i);
    this.siftUp(last.heapIndex);
  }

  private siftUp(i: number): void {
    const h = this.heap;
    const s = h[i] as Source;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = h[parent] as Source;
      if (p.share >= s.share) break;
      h[i] = p;
      p.heapIndex = i;
      i = parent;
    }
    h[i] = s;
    s.heapIndex = i;
  }

  private siftDown(i: number): void {
    const h = this.heap;
    const n = h.length;
    const s = h[i] as Source;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && (h[r] as Source).share > (h[l] as Source).share ? r : l;
      const child = h[c] as Source;
      if (child.share <= s.share) break;
      h[i] = child;
      child.heapIndex = i;
      i = c;
    }
    h[i] = s;
    s.heapIndex = i;
  }
}

function appendToSource(node: Node): void {
  const s = node.source;
  node.sprev = s.tail;
  node.snext = null;
  if (s.tail !== null) s.tail.snext = node;
  else s.head = node;
  s.tail = node;
}

function unlinkFromSource(node: Node): void {
  const s = node.source;
  if (node.sprev !== null) node.sprev.snext = node.snext;
  else s.head = node.snext;
  if (node.snext !== null) node.snext.sprev = node.sprev;
  else s.tail = node.sprev;
  node.sprev = node.snext = null;
}
