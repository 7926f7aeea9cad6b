/**
 * The backend seam: what the command table talks to instead of a Map. An operation
 * answers at once or with a promise (MaybePromise), so the in-memory backend keeps
 * its synchronous fast path and a remote engine (etcd, Redis Cluster) can answer
 * later, without a change to the commands or the front-ends.
 *
 * Times are milliseconds since the Unix epoch; 0 means "no expiry". Versions are
 * positive integers below 2^53 (a server-wide revision, like etcd's mod_revision):
 * a key's version changes on every write of it and never repeats; 0 means "absent".
 */
import type { KvError } from '../errors.js';
import type { ByteString } from '../store/bytes.js';
import type { RequestLedger } from './request-ledger.js';

export type MaybePromise<T> = T | Promise<T>;

/** A live key as a command sees it. Expired keys are never handed out. */
export interface Entry {
  readonly value: ByteString;
  readonly version: number;
  /** Absolute expiry in ms since the epoch; 0: none. */
  readonly expiresAt: number;
}

/** What an update does to its key. */
export type Change =
  | { readonly kind: 'none' }
  /**
   * Store a value; `expiresAt` 'keep' keeps the current expiry (KEEPTTL), 0 clears it.
   * A command never asks for a time that is not after the time it read (it asks for a
   * delete instead), so a backend applies a change without looking at a clock.
   */
  | { readonly kind: 'put'; readonly value: ByteString; readonly expiresAt: number | 'keep' }
  | { readonly kind: 'del' }
  /** Change only the expiry (EXPIRE; PERSIST with 0). As for put, the time is after the command's now. */
  | { readonly kind: 'expire'; readonly expiresAt: number };

export const NO_CHANGE: Change = { kind: 'none' };

/** A decision taken from the key's current state, and what the command makes of it. */
export interface Decision<T> {
  readonly change: Change;
  readonly result: T;
}

export interface Updated<T> {
  readonly result: T;
  /** The key's version after the update: the new one when it changed, else the current one (0: absent). */
  readonly version: number;
}

/**
 * The keyspace operations every backend provides. Single-key operations are atomic
 * and linearizable. `update` is the general read-modify-write: `decide` sees the
 * key's current live entry (undefined when absent or expired) and must be a pure
 * function of it, because a remote backend may call it again when the key changed
 * under it (compare-and-retry).
 */
export interface Backend {
  /** The backend's clock (ms since the epoch); relative TTLs are turned into absolute times with it. */
  now(): number;
  get(key: ByteString): MaybePromise<Entry | undefined>;
  /** The value alone (GET): what get() answers as `value`, without the rest of the entry. */
  getValue(key: ByteString): MaybePromise<ByteString | undefined>;
  /** A plain write (SET key value, PUT): replaces the value and clears the expiry. Answers the new version. */
  put(key: ByteString, value: ByteString): MaybePromise<number>;
  /**
   * put() with an expiry, an absolute time after now() (SET key value EX n and kin, with no
   * other option): a blind write, so no read of the key first. Optional: without it the
   * command makes the same change through update().
   */
  putUntil?(key: ByteString, value: ByteString, expiresAt: number): MaybePromise<number>;
  /** Deletes keys; answers how many existed. */
  delete(keys: readonly ByteString[]): MaybePromise<number>;
  /** How many of `keys` exist (a key named twice counts twice, as in Redis). */
  exists(keys: readonly ByteString[]): MaybePromise<number>;
  update<T>(key: ByteString, decide: (current: Entry | undefined) => Decision<T>): MaybePromise<Updated<T>>;
  /** Keys held (expired keys not yet reclaimed included, as Redis's DBSIZE). */
  dbsize(): MaybePromise<number>;
  /**
   * Runs `body` as one unit (EXEC, MSET, RENAME, FLUSHDB): no other client's operation
   * comes between its operations, and its changes become durable together, so that
   * recovery applies all of them or none. `body` works through the backend it is given
   * (a remote backend may hand it a transaction's view). In the memory backend every
   * operation in it answers at once, and so does `body`; the unit's promise, if any, is
   * its durability (--fsync always).
   */
  atomically<T>(body: (backend: Backend) => MaybePromise<T>): MaybePromise<T>;
  /**
   * One step of an iteration over the keys (SCAN). Every key present from the first
   * step to the last is returned at least once; keys added or removed meanwhile may
   * or may not be. `cursor` is '0' to start, then the one the last page gave; the
   * page's cursor is '0' when the iteration is done. Null: the cursor names no
   * iteration (never given, done, or forgotten for lack of use).
   */
  scan(cursor: string, options: ScanOptions): MaybePromise<ScanPage | null>;
  /** Every live key that `match` accepts (KEYS): it walks the whole keyspace. */
  keys(match: ((key: ByteString) => boolean) | null): MaybePromise<ByteString[]>;
  /** A live key chosen at random (RANDOMKEY), or undefined when there is none. */
  randomKey(): MaybePromise<ByteString | undefined>;
  /** Deletes every key (FLUSHDB, FLUSHALL), as one durable change; answers how many there were. */
  flush(): MaybePromise<number>;
  /** The newest revision: what a listing is as of, for a watch that follows it. */
  revisionNow(): number;
  /**
   * The watch facility: the changes after revision `since` that the query matches, at once
   * if there are any, else the first ones within query.waitMs. Nothing after `since` is
   * missed; `compacted` says the history no longer reaches back that far.
   */
  changes(since: number, query: ChangeQuery): MaybePromise<ChangePage>;
  /** Null while writes are accepted; else the error every write is refused with (the log failed). */
  writeBlocker(): KvError | null;
  /** INFO keyspace and the expiry counters. */
  keyspaceInfo(): KeyspaceInfo;
  /**
   * A group that the keys of one command or transaction must share (Redis Cluster's hash
   * slot), or absent/null when any keys may go together.
   */
  readonly keyGroup?: ((key: ByteString) => number) | null;
  /**
   * The UDP request record that every server over the same data shares (request-ledger.ts);
   * absent/null when the server's reply cache alone keeps UDP's at-most-once promise.
   */
  readonly requestLedger?: RequestLedger | null;
  /**
   * True when an operation's promise stands for the operation itself, not applied yet (a
   * remote engine), rather than only for its durability: a connection's next command then
   * waits for it, so that its commands run in the order they arrived.
   */
  readonly answersLater?: boolean;
}

export interface ScanOptions {
  /** About how many keys to look at (Redis's COUNT, a hint): at least 1. */
  readonly count: number;
  /** Only keys it accepts are returned (MATCH); null: all. */
  readonly match: ((key: ByteString) => boolean) | null;
}

export interface ScanPage {
  readonly cursor: string;
  readonly keys: ByteString[];
}

export interface ChangeEvent {
  readonly key: ByteString;
  /** The revision the change took. */
  readonly version: number;
  /** `expire`: only the expiry changed; `flush`: every key went (key ''). */
  readonly op: 'put' | 'del' | 'expire' | 'flush';
}

export interface ChangeQuery {
  /** The keys of interest; null: all. */
  readonly match: ((key: ByteString) => boolean) | null;
  /** Most events in a page. */
  readonly limit: number;
  /** How long to wait for the first change, in ms; 0: answer at once. */
  readonly waitMs: number;
  /** Ends the wait early (the client went away). */
  readonly signal?: AbortSignal;
}

export interface ChangePage {
  readonly events: ChangeEvent[];
  /** The revision to go on from: every change up to it was looked at. */
  readonly revision: number;
  /** Changes after `since` were dropped from the history: read the keys again. */
  readonly compacted: boolean;
}

export interface KeyspaceInfo {
  readonly keys: number;
  /** Keys with an expiry. */
  readonly expires: number;
  /** Mean remaining TTL of the keys with one, in ms (0 when none). */
  readonly avgTtl: number;
  readonly expiredKeys: number;
  readonly evictedKeys: number;
}

/**
 * One applied change, as handed to durability (the append-only log) and replayed by
 * recovery. Versions are recorded so that they survive a restart; expiry times are
 * absolute, so a restart never extends a TTL; an expiry or an eviction is a `del`.
 */
export type Mutation =
  | { readonly kind: 'put'; readonly key: ByteString; readonly value: ByteString; readonly version: number; readonly expiresAt: number }
  /** `version`: the revision the delete took (so the counter survives even when the newest writes were deletes). */
  | { readonly kind: 'del'; readonly key: ByteString; readonly version: number }
  /** A new expiry for a key whose value did not change (0: PERSIST). */
  | { readonly kind: 'expire'; readonly key: ByteString; readonly version: number; readonly expiresAt: number }
  /** Every key deleted (FLUSHDB, FLUSHALL); `version`: the revision it took. */
  | { readonly kind: 'flush'; readonly version: number };

/**
 * Where mutations go after they are applied in memory. The default keeps nothing;
 * persistence plugs in the append-only log.
 */
export interface MutationSink {
  writeBlocker(): KvError | null;
  /** Records one mutation; a promise when the reply must wait for it to be durable (--fsync always). */
  record(mutation: Mutation): Promise<void> | undefined;
  /** Records mutations that recovery must apply all or none of (Backend.atomically), as record() does one. */
  recordAll(mutations: readonly Mutation[]): Promise<void> | undefined;
}

export const memorySink: MutationSink = {
  writeBlocker: () => null,
  record: () => undefined,
  recordAll: () => undefined,
};

/** A key as persistence reads it for a snapshot, and as recovery loads it. */
export interface StoredKey {
  readonly key: ByteString;
  readonly value: ByteString;
  readonly version: number;
  readonly expiresAt: number;
}

/** What persistence and recovery need of the memory backend, and nothing more. */
export interface DurableStore {
  setSink(sink: MutationSink): void;
  /** Applies a recovered mutation without recording it; keys already expired are dropped. */
  applyRecovered(m: Mutation): void;
  /**
   * A recovered PUT (from a snapshot or a log) whose value is bytes [start, end) of
   * `bytes`: as applyRecovered of that put, without the value's string first (recovery's
   * hot path: one string a key, built from the bytes). The bytes are valid only during
   * the call, and the 16 before `start` may be overwritten: they hold the record's
   * own frame and key, which the reader has read and never reads again.
   */
  recoverPut(key: ByteString, bytes: Buffer, start: number, end: number, version: number, expiresAt: number): void;
  /** The highest version recovered files name, so that the revision counter goes on from it. */
  raiseRevision(atLeast: number): void;
  readonly revision: number;
  readonly size: number;
  entries(): IterableIterator<StoredKey>;
  clear(): void;
}
