/**
 * A DurableStore for the persistence tests, so that they stand on the backend seam
 * alone and not on one backend: a Map of keys with the rules the seam describes (a
 * recovered key or write whose expiry has passed is dropped), a clock the test sets,
 * and a note of every call recovery makes.
 */
import type { DurableStore, Mutation, MutationSink, StoredKey } from '../../src/backend/types.js';
import { memorySink } from '../../src/backend/types.js';

export class TestStore implements DurableStore {
  readonly keys = new Map<string, StoredKey>();
  sink: MutationSink = memorySink;
  revision = 0;
  readonly calls = { recoverPut: 0, applyRecovered: 0, raiseRevision: [] as number[] };

  constructor(public now = 0) {}

  private expired(expiresAt: number): boolean {
    return expiresAt !== 0 && expiresAt < this.now;
  }

  setSink(sink: MutationSink): void {
    this.sink = sink;
  }

  applyRecovered(m: Mutation): void {
    this.calls.applyRecovered++;
    if (m.kind === 'del') {
      this.keys.delete(m.key);
      return;
    }
    if (m.kind === 'flush') {
      this.keys.clear();
      return;
    }
    const value = m.kind === 'put' ? m.value : this.keys.get(m.key)?.value;
    if (value === undefined) return;
    if (this.expired(m.expiresAt)) this.keys.delete(m.key);
    else this.keys.set(m.key, { key: m.key, value, version: m.version, expiresAt: m.expiresAt });
  }

  recoverPut(key: string, bytes: Buffer, start: number, end: number, version: number, expiresAt: number): void {
    this.calls.recoverPut++;
    if (this.expired(expiresAt)) this.keys.delete(key);
    else this.keys.set(key, { key, value: bytes.toString('latin1', start, end), version, expiresAt });
  }

  raiseRevision(atLeast: number): void {
    this.calls.raiseRevision.push(atLeast);
    this.revision = Math.max(this.revision, atLeast);
  }

  get size(): number {
    return this.keys.size;
  }

  entries(): IterableIterator<StoredKey> {
    return this.keys.values();
  }

  clear(): void {
    this.keys.clear();
  }

  get(key: string): StoredKey | undefined {
    return this.keys.get(key);
  }
}
