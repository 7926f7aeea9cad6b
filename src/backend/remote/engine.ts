/**
 * What a distributed engine (etcd, Redis Cluster) offers a gateway: the small set of
 * operations RemoteBackend builds the whole Backend seam from. Reads and commits are
 * atomic at the engine; everything else a command needs (read-modify-write, units of
 * several keys, WATCH) is an optimistic transaction over read() and commit().
 *
 * Every method may reject with a KvError: BACKEND_UNAVAILABLE when the engine cannot be
 * reached (nothing was applied, unless the message says the outcome is unknown),
 * CROSS_SLOT when the keys cannot be served together.
 */
import type { ByteString } from '../../store/bytes.js';
import type { RequestLedger } from '../request-ledger.js';
import type { ChangePage, ChangeQuery, Entry } from '../types.js';

export const ENGINE_NAMES = ['etcd', 'redis-cluster'] as const;
export type EngineName = (typeof ENGINE_NAMES)[number];

/** A key as read from the engine. */
export interface EngineRead {
  /** The live entry; undefined when the key is absent or its expiry has passed. */
  readonly entry: Entry | undefined;
  /**
   * The engine's own revision of the key (0: absent), which a commit compares. It differs
   * from entry?.version only for a key whose expiry has passed but that the engine has
   * not deleted yet (etcd's leases run up to two seconds late).
   */
  readonly revision: number;
}

/** A key's final state after a transaction. Times are absolute ms since the epoch; 0: no expiry. */
export type EngineWrite =
  | { readonly kind: 'put'; readonly key: ByteString; readonly value: ByteString; readonly expiresAt: number }
  | { readonly kind: 'del'; readonly key: ByteString };

/** One step of a walk over the keys: the keys found and the engine's state to go on from (null: done). */
export interface EngineScanStep {
  readonly keys: ByteString[];
  readonly next: unknown;
}

export interface Engine {
  readonly name: EngineName;
  /** The clock relative TTLs are turned into absolute times with (ms since the epoch). */
  now(): number;
  /** Reads keys at one point in time (one consistent snapshot of all of them). */
  read(keys: readonly ByteString[]): Promise<EngineRead[]>;
  /**
   * Applies `writes` (at most one per key) if every key of `expect` still has the revision
   * given (0: absent), all or nothing. Answers the version each written key took (0 for a
   * delete), or null when a comparison failed and nothing was applied.
   */
  commit(expect: ReadonlyMap<ByteString, number>, writes: readonly EngineWrite[]): Promise<Map<ByteString, number> | null>;
  /** A plain write: the value, no expiry. Answers the new version. */
  put(key: ByteString, value: ByteString): Promise<number>;
  /** Deletes keys, all or nothing; answers how many existed. */
  delete(keys: readonly ByteString[]): Promise<number>;
  /** Keys held, expired keys not yet reclaimed included (as Redis's DBSIZE). */
  dbsize(): Promise<number>;
  /** One step of a walk over every key; `from` is null to start, else the step before's `next`. */
  scan(from: unknown, count: number): Promise<EngineScanStep>;
  randomKey(): Promise<ByteString | undefined>;
  /** Deletes every key; answers how many there were. */
  flush(): Promise<number>;
  /** The watch facility (Backend.changes); null: the engine has none that keeps the Backend's promise. */
  readonly changes: ((since: number, query: ChangeQuery) => Promise<ChangePage>) | null;
  /** The UDP request record shared by every gateway on the engine; null: each gateway keeps its own (its reply cache). */
  readonly requests: RequestLedger | null;
  /** The newest revision the gateway has seen (Backend.revisionNow). */
  revisionNow(): number;
  /**
   * A group the keys of one command or transaction must share, or null when any keys may
   * go together (Redis Cluster: the hash slot).
   */
  keyGroup: ((key: ByteString) => number) | null;
  /** Answers once the engine serves requests; rejects saying why not. */
  ping(): Promise<void>;
  /** Where the engine is, for logs and INFO (never a secret). */
  describe(): string;
  close(): Promise<void>;
}
