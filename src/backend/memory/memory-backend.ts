import { performance } from 'node:perf_hooks';
import type { KvError } from '../../errors.js';
import type { ByteString } from '../../store/bytes.js';
import { KeyRotor, ShardedMap } from '../../store/sharded-map.js';
import {
  memorySink,
  type Backend,
  type Change,
  type Decision,
  type DurableStore,
  type Entry,
  type KeyspaceInfo,
  type MaybePromise,
  type ChangePage,
  type ChangeQuery,
  type Mutation,
  type MutationSink,
  type ScanOptions,
  type ScanPage,
  type StoredKey,
  type Updated,
} from '../types.js';
import { ChangeLog } from './change-log.js';
import { ScanCursors } from './scan-cursors.js';
import { AccessClock } from './access-clock.js';
import { encodeStored, hasExpiry, storedExpiry, storedInPlace, storedValue, storedVersion } from './stored-value.js';

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

export interface MemoryBackendOptions {
  /** ms since the epoch; injectable so that tests move time without sleeping. */
  readonly clock?: () => number;
}

/** The active sweep: a slice every SWEEP_PERIOD_MS, each at most SWEEP_SLICE_MS. */
const SWEEP_PERIOD_MS = 100;
const SWEEP_SLICE_MS = 1;
/** While a slice finds more than this share of the keys it looks at expired, the next slice follows at once. */
const SWEEP_AGAIN_SHARE = 0.1;
/** Slices that follow at once stop when their own time adds up to this share of the period: the rest is for clients. */
const SWEEP_MAX_DUTY = 0.4;
/** Keys looked at between two looks at the clock. */
const SWEEP_BATCH = 32;
/** randomKey() steps at most this far along a Map's walk. */
const RANDOM_SKIP = 64;

const noop = (): void => undefined;

/**
 * The in-memory backend: the map, the expiry index, versions, the access clock for
 * LRU eviction, and the durability sink. It knows no socket and no file. All access
 * happens on the main thread, so every operation is atomic: it runs to completion
 * before any other command starts, and answers at once unless the sink makes it wait
 * (--fsync always).
 */
export class MemoryBackend implements Backend, DurableStore, DataMemorySource {
  private readonly map = new ShardedMap<string>();
  /** Keys that have an expiry: what the sweep walks and volatile-* eviction samples. */
  private readonly volatile = new ShardedMap<true>();
  readonly allKeys = new KeyRotor(this.map);
  readonly volatileKeys = new KeyRotor(this.volatile);
  private sink: MutationSink = memorySink;
  private heap = 0;
  private external = 0;
  private rev = 0;
  /** Sum of (expiry − expiryBase) over the volatile keys, for INFO's avg_ttl. */
  private expirySum = 0;
  private readonly expiryBase: number;
  private expired = 0;
  private evicted = 0;
  private sweepTimer: NodeJS.Timeout | null = null;
  private sweepImmediate: NodeJS.Immediate | null = null;
  /** Set while an LRU policy needs access times. */
  access: AccessClock | null = null;
  readonly now: () => number;
  /** The mutations of the atomically() unit under way, recorded together at its end; null outside one. */
  private unit: Mutation[] | null = null;
  private readonly scans: ScanCursors;
  /** The recent changes, for watchers (CHANGES, HTTP long-poll and SSE). */
  private readonly changeLog = new ChangeLog(() => this.rev);

  /** Bytes the change history holds (src/backend/memory/change-log.ts), for --maxmemory's count. */
  get changeLogBytes(): number {
    return this.changeLog.bytes;
  }

  /** Per-Map walks for randomKey(), each going on from where it last stopped. */
  private readonly randomWalks: Array<Iterator<string> | null> = [];

  constructor(options: MemoryBackendOptions = {}) {
    this.now = options.clock ?? Date.now;
    this.expiryBase = this.now();
    this.scans = new ScanCursors(this.map, (key) => this.live(key) !== undefined);
  }

  // --- the Backend seam ---------------------------------------------------------------

  get(key: ByteString): Entry | undefined {
    const s = this.live(key);
    return s === undefined ? undefined : this.entryOf(key, s);
  }

  /** A live key's entry, from its stored string: a read, as LRU counts them. */
  private entryOf(key: ByteString, s: string): Entry {
    if (this.access !== null) this.access.touch(key);
    return { value: storedValue(s), version: storedVersion(s), expiresAt: storedExpiry(s) };
  }

  put(key: ByteString, value: ByteString): MaybePromise<number> {
    const version = ++this.rev;
    this.store(key, encodeStored(value, version, 0));
    if (this.access !== null) this.access.touch(key);
    const durable = this.record({ kind: 'put', key, value, version, expiresAt: 0 });
    return durable === undefined ? version : durable.then(() => version);
  }

  delete(keys: readonly ByteString[]): MaybePromise<number> {
    let n = 0;
    let wait: Promise<void> | undefined;
    for (const key of keys) {
      if (this.live(key) === undefined) continue;
      this.remove(key);
      n++;
      // Records are durable in order: the last one's promise covers the others.
      wait = this.record({ kind: 'del', key, version: ++this.rev }) ?? wait;
    }
    return wait === undefined ? n : wait.then(() => n);
  }

  /** Whether the key is live (tests and tools; commands use exists()). */
  has(key: ByteString): boolean {
    return this.live(key) !== undefined;
  }

  exists(keys: readonly ByteString[]): number {
    let n = 0;
    for (const key of keys) if (this.live(key) !== undefined) n++;
    return n;
  }

  update<T>(key: ByteString, decide: (current: Entry | undefined) => Decision<T>): MaybePromise<Updated<T>> {
    const s = this.live(key);
    const current = s === undefined ? undefined : this.entryOf(key, s);
    const { change, result } = decide(current);
    const { version, durable } = this.applyChange(key, s, current, change);
    const out: Updated<T> = { result, version };
    return durable === undefined ? out : durable.then(() => out);
  }

  dbsize(): number {
    return this.map.size;
  }

  writeBlocker(): KvError | null {
    return this.sink.writeBlocker();
  }

  atomically<T>(body: (backend: Backend) => MaybePromise<T>): MaybePromise<T> {
    // A unit inside a unit (MSET in EXEC) is part of the outer one.
    if (this.unit !== null) return body(this);
    const unit: Mutation[] = [];
    this.unit = unit;
    let result: MaybePromise<T>;
    try {
      result = body(this);
    } catch (err) {
      // What was applied is recorded all the same: memory already holds it.
      this.unit = null;
      this.recordUnit(unit)?.catch(noop);
      throw err;
    }
    this.unit = null;
    const durable = this.recordUnit(unit);
    // Operations in a unit answer at once here (their records wait for its end), so a promise means a body that waited on something else.
    if (result instanceof Promise) throw new Error('a unit of the memory backend answered with a promise: its operations would not be atomic');
    const done = result;
    return durable === undefined ? done : durable.then(() => done);
  }

  private recordUnit(unit: readonly Mutation[]): Promise<void> | undefined {
    if (unit.length === 0) return undefined;
    return unit.length === 1 ? this.sink.record(unit[0] as Mutation) : this.sink.recordAll(unit);
  }

  scan(cursor: string, options: ScanOptions): ScanPage | null {
    return this.scans.step(cursor, options);
  }

  keys(match: ((key: ByteString) => boolean) | null): ByteString[] {
    const out: ByteString[] = [];
    for (const [key] of this.map.entries()) {
      if ((match === null || match(key)) && this.live(key) !== undefined) out.push(key);
    }
    return out;
  }

  randomKey(): ByteString | undefined {
    // Redis gives up after 100 expired keys in a row when every key has a TTL; so do we.
    for (let tries = 0; tries < 100 && this.map.size > 0; tries++) {
      const key = this.randomStoredKey();
      if (key !== undefined && this.live(key) !== undefined) return key;
    }
    return undefined;
  }

  /**
   * A stored key, about uniformly: a Map chosen with a chance in proportion to its size,
   * then a key a random number of steps (up to RANDOM_SKIP) along that Map's own walk,
   * which goes on from call to call. V8's Map has no random access; this costs at most
   * RANDOM_SKIP steps.
   */
  private randomStoredKey(): ByteString | undefined {
    let r = Math.floor(Math.random() * this.map.size);
    for (let i = 0; i < this.map.segmentCount; i++) {
      const m = this.map.segment(i) as Map<string, string>;
      if (r >= m.size) {
        r -= m.size;
        continue;
      }
      let skip = Math.floor(Math.random() * Math.min(m.size, RANDOM_SKIP));
      for (let guard = 0; guard < 2 * RANDOM_SKIP + 2; guard++) {
        const walk = this.randomWalks[i] ?? m.keys();
        const next = walk.next();
        if (next.done === true) {
          this.randomWalks[i] = null;
          continue;
        }
        this.randomWalks[i] = walk;
        if (skip-- <= 0) return next.value;
      }
      return undefined;
    }
    return undefined;
  }

  revisionNow(): number {
    return this.rev;
  }

  changes(since: number, query: ChangeQuery): MaybePromise<ChangePage> {
    return this.changeLog.wait(since, query);
  }

  flush(): MaybePromise<number> {
    const n = this.map.size;
    this.clear();
    this.randomWalks.length = 0;
    const durable = this.record({ kind: 'flush', version: ++this.rev });
    return durable === undefined ? n : durable.then(() => n);
  }

  keyspaceInfo(): KeyspaceInfo {
    const expires = this.volatile.size;
    const avg = expires > 0 ? this.expirySum / expires + this.expiryBase - this.now() : 0;
    return { keys: this.map.size, expires, avgTtl: Math.max(0, Math.round(avg)), expiredKeys: this.expired, evictedKeys: this.evicted };
  }

  // --- changes ------------------------------------------------------------------------

  /** Applies `change` to a key whose stored string was just read: `stored` (undefined: absent), decoded as `current`. */
  private applyChange(
    key: ByteString,
    stored: string | undefined,
    current: Entry | undefined,
    change: Change,
  ): { version: number; durable: Promise<void> | undefined } {
    switch (change.kind) {
      case 'none':
        return { version: current?.version ?? 0, durable: undefined };
      case 'put': {
        const expiresAt = change.expiresAt === 'keep' ? (current?.expiresAt ?? 0) : change.expiresAt;
        const version = ++this.rev;
        this.storeOver(key, encodeStored(change.value, version, expiresAt), stored);
        // A key this write creates was not looked up, so the LRU policies would take it for never used.
        if (this.access !== null) this.access.touch(key);
        return { version, durable: this.record({ kind: 'put', key, value: change.value, version, expiresAt }) };
      }
      case 'del':
        return this.deleteChange(key, current);
      case 'expire': {
        if (current === undefined) return { version: 0, durable: undefined };
        const { expiresAt } = change;
        const version = ++this.rev;
        this.storeOver(key, encodeStored(current.value, version, expiresAt), stored);
        return { version, durable: this.record({ kind: 'expire', key, version, expiresAt }) };
      }
    }
  }

  private deleteChange(key: ByteString, current: Entry | undefined): { version: number; durable: Promise<void> | undefined } {
    if (current === undefined) return { version: 0, durable: undefined };
    this.remove(key);
    return { version: 0, durable: this.record({ kind: 'del', key, version: ++this.rev }) };
  }

  /**
   * The stored string of a live key, or undefined. A key found expired is deleted
   * here (lazy expiry) and the delete logged; the caller never waits for that record:
   * after a crash the key is expired at load anyway. As in Redis (db.c keyIsExpired),
   * a key lives through its expiry millisecond and is expired once now is past it.
   */
  private live(key: ByteString): string | undefined {
    const s = this.map.get(key);
    if (s === undefined || !hasExpiry(s) || storedExpiry(s) >= this.now()) return s;
    this.expireKey(key);
    return undefined;
  }

  private expireKey(key: ByteString): void {
    this.remove(key);
    this.expired++;
    this.recordQuietly({ kind: 'del', key, version: ++this.rev });
  }

  /** Records a change that no client waits for (an expiry, an eviction): a failure is the log's to report. */
  private recordQuietly(m: Mutation): void {
    this.record(m)?.catch(noop);
  }

  /** Hands a mutation to the sink, or to the unit under way (atomically), which hands them on together. */
  private record(m: Mutation): Promise<void> | undefined {
    this.changeLog.append(m.kind === 'flush' ? '' : m.key, m.version, m.kind);
    if (this.unit !== null) {
      this.unit.push(m);
      return undefined;
    }
    return this.sink.record(m);
  }

  // --- the map and its accounting -----------------------------------------------------

  private count(s: string, sign: 1 | -1): void {
    if (s.length >= EXTERNAL_STRING_MIN) this.external += sign * (s.length + EXTERNAL_OVERHEAD);
    else this.heap += sign * ((STRING_HEADER + s.length + 7) & ~7);
  }

  private store(key: ByteString, stored: string): void {
    this.accountStore(key, stored, this.map.set(key, stored));
  }

  /**
   * store() for a key whose stored string the caller has just read (`old`, undefined
   * when absent): one lookup of the map instead of two, and none of the expiry index
   * when the key had an expiry and keeps one (SET … EX over a key that has a TTL).
   */
  private storeOver(key: ByteString, stored: string, old: string | undefined): void {
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
  private remove(key: ByteString): number {
    const old = this.map.delete(key);
    if (old === undefined) return 0;
    const before = this.heap + this.external;
    this.heap -= ENTRY_OVERHEAD;
    this.count(key, -1);
    this.count(old, -1);
    if (hasExpiry(old)) this.unindex(key, old);
    return before - this.heap - this.external;
  }

  /** The stored string of a key, expired or not (eviction and the sweep look at it). */
  peek(key: ByteString): string | undefined {
    return this.map.get(key);
  }

  /** Evicts one key (an eviction policy chose it); returns the bytes freed. Logged as a delete. */
  evict(key: ByteString): number {
    const freed = this.remove(key);
    if (freed === 0) return 0;
    this.evicted++;
    this.recordQuietly({ kind: 'del', key, version: ++this.rev });
    return freed;
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

  get volatileCount(): number {
    return this.volatile.size;
  }

  // --- the active expiry sweep --------------------------------------------------------

  /** Starts the active sweep, which reclaims expired keys nobody reads. */
  startActiveExpiry(): void {
    if (this.sweepTimer !== null) return;
    this.sweepTimer = setInterval(() => this.sweepPeriod(), SWEEP_PERIOD_MS);
    this.sweepTimer.unref();
  }

  stopActiveExpiry(): void {
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    if (this.sweepImmediate !== null) clearImmediate(this.sweepImmediate);
    this.sweepTimer = null;
    this.sweepImmediate = null;
  }

  get activeExpiry(): boolean {
    return this.sweepTimer !== null;
  }

  private sweepPeriod(): void {
    if (this.sweepImmediate !== null) return; // the previous period's slices are still going
    // The budget counts the slices' own time, not the wall time between them: on a busy
    // server, clients' turns between slices would otherwise use up the sweep's share.
    let spent = 0;
    const slice = (): void => {
      this.sweepImmediate = null;
      const start = performance.now();
      const { looked, expired } = this.sweep(SWEEP_SLICE_MS);
      spent += performance.now() - start;
      const busy = looked > 0 && expired / looked > SWEEP_AGAIN_SHARE;
      // Between slices the event loop runs (setImmediate comes after I/O), so clients are served.
      if (busy && spent < SWEEP_PERIOD_MS * SWEEP_MAX_DUTY && this.sweepTimer !== null) {
        this.sweepImmediate = setImmediate(slice);
      }
    };
    slice();
  }

  /**
   * One slice of the sweep: looks at volatile keys in turn, from where the last slice
   * stopped, deleting the expired ones, for at most `budgetMs` or one round of them.
   */
  sweep(budgetMs: number): { looked: number; expired: number } {
    const total = this.volatile.size;
    if (total === 0) return { looked: 0, expired: 0 };
    const deadline = performance.now() + budgetMs;
    const now = this.now();
    let looked = 0;
    let expired = 0;
    while (looked < total) {
      for (let i = 0; i < SWEEP_BATCH && looked < total; i++) {
        const e = this.volatileKeys.next();
        if (e === undefined) return { looked, expired };
        looked++;
        const key = e[0];
        const s = this.map.get(key);
        if (s !== undefined && storedExpiry(s) < now) {
          this.expireKey(key);
          expired++;
        }
      }
      if (performance.now() >= deadline) break;
    }
    return { looked, expired };
  }

  // --- DurableStore: what persistence and recovery use --------------------------------

  setSink(sink: MutationSink): void {
    this.sink = sink;
  }

  get revision(): number {
    return this.rev;
  }

  raiseRevision(atLeast: number): void {
    if (atLeast > this.rev) this.rev = atLeast;
  }

  applyRecovered(m: Mutation): void {
    this.raiseRevision(m.version);
    switch (m.kind) {
      case 'put':
        if (m.expiresAt !== 0 && m.expiresAt < this.now()) this.remove(m.key);
        else this.store(m.key, encodeStored(m.value, m.version, m.expiresAt));
        return;
      case 'del':
        this.remove(m.key);
        return;
      case 'flush':
        this.clear();
        return;
      case 'expire': {
        const s = this.map.get(m.key);
        if (s === undefined) return;
        if (m.expiresAt !== 0 && m.expiresAt < this.now()) this.remove(m.key);
        else this.store(m.key, encodeStored(storedValue(s), m.version, m.expiresAt));
        return;
      }
    }
  }

  recoverPut(key: ByteString, bytes: Buffer, start: number, end: number, version: number, expiresAt: number): void {
    this.raiseRevision(version);
    if (expiresAt !== 0 && expiresAt < this.now()) this.remove(key);
    else this.store(key, storedInPlace(bytes, start, end, version, expiresAt));
  }

  get size(): number {
    return this.map.size;
  }

  *entries(): IterableIterator<StoredKey> {
    for (const [key, s] of this.map.entries()) {
      yield { key, value: storedValue(s), version: storedVersion(s), expiresAt: storedExpiry(s) };
    }
  }

  clear(): void {
    this.map.clear();
    this.volatile.clear();
    this.allKeys.reset();
    this.volatileKeys.reset();
    this.access?.clear();
    this.heap = 0;
    this.external = 0;
    this.expirySum = 0;
  }
}
