/**
 * The snapshot worker's keyspace: the live keys the files add up to, with their
 * versions and expiry times, and nothing else (no memory accounting, no sink, no
 * expiry index). It answers what a restart would load, so it follows the memory
 * backend's rules for a recovered mutation: a write whose expiry has passed deletes
 * the key, an EXPIRE changes the expiry and the version of a key that exists.
 */
import type { Mutation, StoredKey } from '../backend/types.js';
import type { ByteString } from '../store/bytes.js';
import { SegmentedMap } from '../store/segmented-map.js';
import type { ReplayTarget } from './replay.js';

/**
 * A key's value, version and expiry. Three fields, not the StoredKey the replay hands
 * over: the worker's heap has the same limit as the server's and holds every key.
 */
interface Folded {
  readonly value: ByteString;
  readonly version: number;
  readonly expiresAt: number;
}

export class FoldedKeys implements ReplayTarget {
  // Segmented as the store is: one V8 Map holds at most 2^24 keys.
  private readonly map = new SegmentedMap<Folded>();
  private revision_ = 0;

  /** `now`: keys whose expiry is at or before it (ms since the epoch) have expired. */
  constructor(private readonly now: number) {}

  get size(): number {
    return this.map.size;
  }

  get revision(): number {
    return this.revision_;
  }

  private expired(expiresAt: number): boolean {
    return expiresAt !== 0 && expiresAt <= this.now;
  }

  private set(key: ByteString, value: ByteString, version: number, expiresAt: number): void {
    if (this.expired(expiresAt)) this.map.delete(key);
    else this.map.set(key, { value, version, expiresAt });
  }

  loadKey(k: StoredKey): void {
    this.set(k.key, k.value, k.version, k.expiresAt);
  }

  applyRecovered(m: Mutation): void {
    if (m.kind === 'put') this.set(m.key, m.value, m.version, m.expiresAt);
    else if (m.kind === 'del') this.map.delete(m.key);
    else {
      const held = this.map.get(m.key);
      if (held !== undefined) this.set(m.key, held.value, m.version, m.expiresAt);
    }
  }

  raiseRevision(atLeast: number): void {
    if (atLeast > this.revision_) this.revision_ = atLeast;
  }

  *entries(): IterableIterator<StoredKey> {
    for (const [key, k] of this.map.entries()) yield { key, value: k.value, version: k.version, expiresAt: k.expiresAt };
  }
}
