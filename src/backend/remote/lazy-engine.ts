import type { ByteString } from '../../store/bytes.js';
import type { LedgerClaim, RequestLedger } from '../request-ledger.js';
import type { ChangePage, ChangeQuery } from '../types.js';
import type { Engine, EngineName, EngineRead, EngineScanStep, EngineWrite } from './engine.js';

/** What a LazyEngine knows of its engine before the engine's module is loaded. */
export interface EngineFacts {
  readonly name: EngineName;
  readonly describe: string;
  readonly keyGroup: ((key: ByteString) => number) | null;
  readonly watches: boolean;
  /** Where the shared UDP request records live; null when the engine keeps none. */
  readonly requestRecords: string | null;
}

/**
 * An engine whose module (and its client library: etcd3 with gRPC, ioredis) is loaded
 * only when a gateway starts, so that a server of its own (--backend memory, the
 * default) never pays for them: about 0.9 s of start-up and 50 MB of memory.
 * Every call waits for the load, then goes to the engine.
 */
export class LazyEngine implements Engine {
  readonly name: EngineName;
  readonly keyGroup: ((key: ByteString) => number) | null;
  readonly changes: ((since: number, query: ChangeQuery) => Promise<ChangePage>) | null;
  readonly requests: RequestLedger | null;
  private engine: Engine | null = null;
  private readonly loading: Promise<Engine>;

  constructor(
    private readonly facts: EngineFacts,
    load: () => Promise<Engine>,
  ) {
    this.name = facts.name;
    this.keyGroup = facts.keyGroup;
    this.loading = load().then((e) => (this.engine = e));
    // A load that fails fails every call, and the health check says why.
    this.loading.catch(() => undefined);
    this.changes = facts.watches ? (since, query) => this.use((e) => (e.changes as NonNullable<Engine['changes']>)(since, query)) : null;
    const where = facts.requestRecords;
    this.requests =
      where === null
        ? null
        : {
            where,
            claim: (id, fingerprint, windowMs): Promise<LedgerClaim> => this.use((e) => (e.requests as RequestLedger).claim(id, fingerprint, windowMs)),
            complete: (id, fingerprint, reply, token) => this.use((e) => (e.requests as RequestLedger).complete(id, fingerprint, reply, token)),
            release: (id, token) => this.use((e) => (e.requests as RequestLedger).release(id, token)),
          };
  }

  now(): number {
    return this.engine?.now() ?? Date.now();
  }

  describe(): string {
    return this.facts.describe;
  }

  revisionNow(): number {
    return this.engine?.revisionNow() ?? 0;
  }

  read(keys: readonly ByteString[]): Promise<EngineRead[]> {
    return this.use((e) => e.read(keys));
  }

  commit(expect: ReadonlyMap<ByteString, number>, writes: readonly EngineWrite[]): Promise<Map<ByteString, number> | null> {
    return this.use((e) => e.commit(expect, writes));
  }

  put(key: ByteString, value: ByteString): Promise<number> {
    return this.use((e) => e.put(key, value));
  }

  delete(keys: readonly ByteString[]): Promise<number> {
    return this.use((e) => e.delete(keys));
  }

  dbsize(): Promise<number> {
    return this.use((e) => e.dbsize());
  }

  scan(from: unknown, count: number): Promise<EngineScanStep> {
    return this.use((e) => e.scan(from, count));
  }

  randomKey(): Promise<ByteString | undefined> {
    return this.use((e) => e.randomKey());
  }

  flush(): Promise<number> {
    return this.use((e) => e.flush());
  }

  ping(): Promise<void> {
    return this.use((e) => e.ping());
  }

  async close(): Promise<void> {
    const engine = await this.loading.catch(() => null);
    await engine?.close();
  }

  /** The hot path once loaded: no extra turn through a promise. */
  private use<T>(op: (engine: Engine) => Promise<T>): Promise<T> {
    const e = this.engine;
    return e !== null ? op(e) : this.loading.then(op);
  }
}
