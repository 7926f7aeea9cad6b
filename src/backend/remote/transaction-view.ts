import { KvError } from '../../errors.js';
import type { ByteString } from '../../store/bytes.js';
import type { Backend, Change, ChangePage, Decision, Entry, KeyspaceInfo, ScanPage, Updated } from '../types.js';
import type { EngineRead, EngineWrite } from './engine.js';

/**
 * The version a key written earlier in the same transaction reads with, until the
 * transaction commits: the engine gives versions only then. The same in every run of
 * the body, so that every run decides the same (README "Guarantees by backend").
 */
export const PENDING_VERSION = Number.MAX_SAFE_INTEGER;

/**
 * What one run of a unit's body (Backend.atomically over a remote engine) works
 * through: a synchronous view of the keys read so far, with the unit's writes held back.
 * A key not read yet answers "absent" and is noted; the runner reads every noted key and
 * runs the body again, until a run needs no key it does not have. The runner then
 * commits the writes, compared against the revisions the reads saw, and runs the body
 * one last time with the versions the commit gave, for the replies.
 */
export class TransactionView implements Backend {
  /** Keys this run needed and the base does not have. */
  readonly missing = new Set<ByteString>();
  /** Each key's state as the unit leaves it (undefined: deleted). */
  private readonly written = new Map<ByteString, Entry | undefined>();

  constructor(
    /** What the engine answered for the keys read so far. */
    private readonly base: ReadonlyMap<ByteString, EngineRead>,
    private readonly at: number,
    private readonly outer: Backend,
    /** The versions the commit gave (the last run), or null before it. */
    private readonly committed: ReadonlyMap<ByteString, number> | null,
  ) {}

  now(): number {
    return this.at;
  }

  get(key: ByteString): Entry | undefined {
    if (this.written.has(key)) return this.written.get(key);
    const read = this.base.get(key);
    if (read === undefined) {
      this.missing.add(key);
      return undefined;
    }
    return read.entry;
  }

  getValue(key: ByteString): ByteString | undefined {
    return this.get(key)?.value;
  }

  put(key: ByteString, value: ByteString): number {
    return this.apply(key, this.get(key), { kind: 'put', value, expiresAt: 0 });
  }

  delete(keys: readonly ByteString[]): number {
    let n = 0;
    for (const key of keys) {
      const cur = this.get(key);
      if (cur === undefined) continue;
      this.apply(key, cur, { kind: 'del' });
      n++;
    }
    return n;
  }

  exists(keys: readonly ByteString[]): number {
    let n = 0;
    for (const key of keys) if (this.get(key) !== undefined) n++;
    return n;
  }

  update<T>(key: ByteString, decide: (current: Entry | undefined) => Decision<T>): Updated<T> {
    const cur = this.get(key);
    const { change, result } = decide(cur);
    return { result, version: this.apply(key, cur, change) };
  }

  atomically<T>(body: (backend: Backend) => T): T {
    return body(this);
  }

  /** The keys read, with the revision each was read at: what the commit compares. */
  expectations(): Map<ByteString, number> {
    const out = new Map<ByteString, number>();
    for (const [key, read] of this.base) out.set(key, read.revision);
    return out;
  }

  /** The writes to commit: each key's final state, where it differs from what was read. */
  writes(): EngineWrite[] {
    const out: EngineWrite[] = [];
    for (const [key, entry] of this.written) {
      if (entry !== undefined) out.push({ kind: 'put', key, value: entry.value, expiresAt: entry.expiresAt });
      else if ((this.base.get(key)?.revision ?? 0) !== 0) out.push({ kind: 'del', key });
    }
    return out;
  }

  private apply(key: ByteString, cur: Entry | undefined, change: Change): number {
    switch (change.kind) {
      case 'none':
        return cur?.version ?? 0;
      case 'put': {
        const expiresAt = change.expiresAt === 'keep' ? (cur?.expiresAt ?? 0) : change.expiresAt;
        this.written.set(key, { value: change.value, version: PENDING_VERSION, expiresAt });
        return this.versionOf(key);
      }
      case 'expire':
        if (cur === undefined) return 0;
        this.written.set(key, { value: cur.value, version: PENDING_VERSION, expiresAt: change.expiresAt });
        return this.versionOf(key);
      case 'del':
        if (cur === undefined) return 0;
        this.written.set(key, undefined);
        return 0;
    }
  }

  private versionOf(key: ByteString): number {
    return this.committed?.get(key) ?? PENDING_VERSION;
  }

  // --- what a unit over a remote engine cannot do -------------------------------------

  private refuse(what: string): never {
    throw new KvError('NOT_SUPPORTED', `${what} inside a transaction (MULTI, or a command over several keys) is not supported by a remote backend; run it on its own`);
  }

  dbsize(): number {
    return this.refuse('DBSIZE');
  }

  scan(): ScanPage | null {
    return this.refuse('SCAN');
  }

  keys(): ByteString[] {
    return this.refuse('KEYS');
  }

  randomKey(): ByteString | undefined {
    return this.refuse('RANDOMKEY');
  }

  flush(): number {
    return this.refuse('FLUSHDB and FLUSHALL');
  }

  changes(): ChangePage {
    return this.refuse('watching changes');
  }

  revisionNow(): number {
    return this.outer.revisionNow();
  }

  writeBlocker(): KvError | null {
    return null;
  }

  keyspaceInfo(): KeyspaceInfo {
    return this.outer.keyspaceInfo();
  }
}
