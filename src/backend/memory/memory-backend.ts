import type { KvError } from '../../errors.js';
import type { ByteString } from '../../store/bytes.js';
import type { KeyRotor, ShardedMap } from '../../store/sharded-map.js';
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
import { RandomKeys } from './random-keys.js';
import { ScanCursors } from './scan-cursors.js';
import { AccessClock } from './access-clock.js';
import { ActiveSweep } from './active-sweep.js';
import { Keyspace, type DataMemory, type DataMemorySource } from './keyspace.js';
import { encodeStored, hasExpiry, storedExpiry, storedInPlace, storedValue, storedVersion } from './stored-value.js';

export interface MemoryBackendOptions {
  /** ms since the epoch; injectable so that tests move time without sleeping. */
  readonly clock?: () => number;
}

const noop = (): void => undefined;

/**
 * The in-memory backend: the keyspace (keyspace.ts: the map, the expiry index and
 * their byte counts), versions, the access clock for LRU eviction, and the durability
 * sink. It knows no socket and no file. All access
 * happens on the main thread, so every operation is atomic: it runs to completion
 * before any other command starts, and answers at once unless the sink makes it wait
 * (--fsync always).
 */
export class MemoryBackend implements Backend, DurableStore, DataMemorySource {
  private readonly keyspace: Keyspace;
  /** The keyspace's map: reads go straight to it, writes through the keyspace, which counts them. */
  private readonly map: ShardedMap<string>;
  readonly allKeys: KeyRotor<string>;
  readonly volatileKeys: KeyRotor<true>;
  private sink: MutationSink = memorySink;
  private rev = 0;
  private expired = 0;
  private evicted = 0;
  private readonly sweeper: ActiveSweep;
  /** Set while an LRU policy needs access times. */
  access: AccessClock | null = null;
  readonly now: () => number;
  /** The mutations of the atomically() unit under way, recorded together at its end; null outside one. */
  private unit: Mutation[] | null = null;
  private readonly scans: ScanCursors;
  private readonly randomKeys: RandomKeys;
  /** The recent changes, for watchers (CHANGES, HTTP long-poll and SSE). */
  private readonly changeLog = new ChangeLog(() => this.rev);

  /** Bytes the change history holds (src/backend/memory/change-log.ts), for --maxmemory's count. */
  get changeLogBytes(): number {
    return this.changeLog.bytes;
  }

  constructor(options: MemoryBackendOptions = {}) {
    this.now = options.clock ?? Date.now;
    this.keyspace = new Keyspace(this.now);
    this.map = this.keyspace.map;
    this.allKeys = this.keyspace.allKeys;
    this.volatileKeys = this.keyspace.volatileKeys;
    this.sweeper = new ActiveSweep(this.keyspace, this.now, (key) => this.expireKey(key));
    this.randomKeys = new RandomKeys(this.map);
    this.scans = new ScanCursors(this.map, (key) => this.live(key) !== undefined);
  }

  // --- the Backend seam ---------------------------------------------------------------

  get(key: ByteString): Entry | undefined {
    const s = this.live(key);
    return s === undefined ? undefined : this.entryOf(key, s);
  }

  getValue(key: ByteString): ByteString | undefined {
    const s = this.live(key);
    if (s === undefined) return undefined;
    if (this.access !== null) this.access.touch(key);
    return storedValue(s);
  }

  /** A live key's entry, from its stored string: a read, as LRU counts them. */
  private entryOf(key: ByteString, s: string): Entry {
    if (this.access !== null) this.access.touch(key);
    return { value: storedValue(s), version: storedVersion(s), expiresAt: storedExpiry(s) };
  }

  put(key: ByteString, value: ByteString): MaybePromise<number> {
    return this.putUntil(key, value, 0); // 0: no expiry
  }

  putUntil(key: ByteString, value: ByteString, expiresAt: number): MaybePromise<number> {
    const version = ++this.rev;
    this.keyspace.store(key, encodeStored(value, version, expiresAt));
    if (this.access !== null) this.access.touch(key);
    const durable = this.record({ kind: 'put', key, value, version, expiresAt });
    return durable === undefined ? version : durable.then(() => version);
  }

  delete(keys: readonly ByteString[]): MaybePromise<number> {
    let n = 0;
    let wait: Promise<void> | undefined;
    for (const key of keys) {
      if (this.live(key) === undefined) continue;
      this.keyspace.remove(key);
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
      const key = this.randomKeys.pick();
      if (key !== undefined && this.live(key) !== undefined) return key;
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
    this.randomKeys.reset();
    const durable = this.record({ kind: 'flush', version: ++this.rev });
    return durable === undefined ? n : durable.then(() => n);
  }

  keyspaceInfo(): KeyspaceInfo {
    const expires = this.keyspace.volatileCount;
    return { keys: this.map.size, expires, avgTtl: this.keyspace.avgTtl(), expiredKeys: this.expired, evictedKeys: this.evicted };
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
        this.keyspace.storeOver(key, encodeStored(change.value, version, expiresAt), stored);
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
        this.keyspace.storeOver(key, encodeStored(current.value, version, expiresAt), stored);
        return { version, durable: this.record({ kind: 'expire', key, version, expiresAt }) };
      }
    }
  }

  private deleteChange(key: ByteString, current: Entry | undefined): { version: number; durable: Promise<void> | undefined } {
    if (current === undefined) return { version: 0, durable: undefined };
    this.keyspace.remove(key);
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
    this.keyspace.remove(key);
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

  // --- the keyspace, as eviction and --maxmemory see it (keyspace.ts) ----------------

  /** The stored string of a key, expired or not (eviction and the sweep look at it). */
  peek(key: ByteString): string | undefined {
    return this.map.get(key);
  }

  /** Evicts one key (an eviction policy chose it); returns the bytes freed. Logged as a delete. */
  evict(key: ByteString): number {
    const freed = this.keyspace.remove(key);
    if (freed === 0) return 0;
    this.evicted++;
    this.recordQuietly({ kind: 'del', key, version: ++this.rev });
    return freed;
  }

  get memory(): DataMemory {
    return this.keyspace.memory;
  }

  get dataBytes(): number {
    return this.keyspace.dataBytes;
  }

  get heapBytes(): number {
    return this.keyspace.heapBytes;
  }

  get volatileCount(): number {
    return this.keyspace.volatileCount;
  }

  // --- the active expiry sweep (active-sweep.ts) -------------------------------------

  /** Starts the active sweep, which reclaims expired keys nobody reads. */
  startActiveExpiry(): void {
    this.sweeper.start();
  }

  stopActiveExpiry(): void {
    this.sweeper.stop();
  }

  get activeExpiry(): boolean {
    return this.sweeper.running;
  }

  /** One slice of the sweep, for at most `budgetMs` or one round of the volatile keys. */
  sweep(budgetMs: number): { looked: number; expired: number } {
    return this.sweeper.sweep(budgetMs);
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
        if (m.expiresAt !== 0 && m.expiresAt < this.now()) this.keyspace.remove(m.key);
        else this.keyspace.store(m.key, encodeStored(m.value, m.version, m.expiresAt));
        return;
      case 'del':
        this.keyspace.remove(m.key);
        return;
      case 'flush':
        this.clear();
        return;
      case 'expire': {
        const s = this.map.get(m.key);
        if (s === undefined) return;
        if (m.expiresAt !== 0 && m.expiresAt < this.now()) this.keyspace.remove(m.key);
        else this.keyspace.store(m.key, encodeStored(storedValue(s), m.version, m.expiresAt));
        return;
      }
    }
  }

  recoverPut(key: ByteString, bytes: Buffer, start: number, end: number, version: number, expiresAt: number): void {
    this.raiseRevision(version);
    if (expiresAt !== 0 && expiresAt < this.now()) this.keyspace.remove(key);
    else this.keyspace.store(key, storedInPlace(bytes, start, end, version, expiresAt));
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
    this.keyspace.clear();
    this.access?.clear();
  }
}
