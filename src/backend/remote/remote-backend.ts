import { KvError } from '../../errors.js';
import type { ByteString } from '../../store/bytes.js';
import type {
  Backend,
  ChangePage,
  ChangeQuery,
  Decision,
  Entry,
  KeyspaceInfo,
  MaybePromise,
  ScanOptions,
  ScanPage,
  Updated,
} from '../types.js';
import type { LedgerClaim, RequestLedger } from '../request-ledger.js';
import type { Engine, EngineRead } from './engine.js';
import { EngineHealth, type HealthEvents } from './engine-health.js';
import { RemoteScans } from './remote-scans.js';
import { TransactionView } from './transaction-view.js';

/** How many times a read-modify-write or a unit runs again after losing the race for its keys, before TRYAGAIN. */
export const MAX_ATTEMPTS = 32;
/** Runs of one unit's body that each find keys it still has to read: past this the body reads keys without end. */
const MAX_READ_ROUNDS = 64;

export interface RemoteBackendOptions {
  readonly health?: HealthEvents;
  /** ms between two looks at the engine (readiness, INFO's key count). */
  readonly healthIntervalMs?: number;
}

/**
 * The Backend seam over a distributed engine: the gateway holds no data. Single-key
 * reads and plain writes go straight to the engine; a read-modify-write (INCR, CAS,
 * SET NX, EXPIRE…) reads the key, decides, and commits only if the key's revision is
 * still the one it read, else runs again (compare-and-retry). A unit (EXEC, MSET,
 * RENAME) is an optimistic transaction: its body runs over a TransactionView until it
 * has read every key it needs, and its writes are committed in one engine transaction,
 * compared against every key it read.
 *
 * While the engine is not reachable, every operation fails at once with
 * BACKEND_UNAVAILABLE (and writeBlocker() says why, for /readyz); EngineHealth looks
 * again every interval and on each failure.
 */
export class RemoteBackend implements Backend {
  /** Every operation is a round trip to the engine (Backend.answersLater). */
  readonly answersLater = true;
  readonly health: EngineHealth;
  readonly requestLedger: RequestLedger | null;
  private readonly scans: RemoteScans;

  constructor(
    readonly engine: Engine,
    options: RemoteBackendOptions = {},
  ) {
    this.health = new EngineHealth(engine, options.healthIntervalMs ?? 1000, options.health ?? {});
    this.scans = new RemoteScans(engine);
    const records = engine.requests;
    // The records go to the engine as every operation does: refused at once while it is away.
    this.requestLedger =
      records === null
        ? null
        : {
            where: records.where,
            claim: (id, fingerprint, windowMs): Promise<LedgerClaim> => this.guard(() => records.claim(id, fingerprint, windowMs)),
            complete: (id, fingerprint, reply, token) => this.guard(() => records.complete(id, fingerprint, reply, token)),
            release: (id, token) => this.guard(() => records.release(id, token)),
          };
  }

  /** Starts looking at the engine; the gateway is ready once it answers. */
  start(): void {
    this.health.start();
  }

  async close(): Promise<void> {
    this.health.stop();
    await this.engine.close();
  }

  now(): number {
    return this.engine.now();
  }

  get(key: ByteString): MaybePromise<Entry | undefined> {
    return this.guard(() => this.engine.read([key]).then((r) => (r[0] as EngineRead).entry));
  }

  getValue(key: ByteString): MaybePromise<ByteString | undefined> {
    const r = this.get(key);
    return r instanceof Promise ? r.then((e) => e?.value) : r?.value;
  }

  put(key: ByteString, value: ByteString): MaybePromise<number> {
    return this.guard(() => this.engine.put(key, value));
  }

  delete(keys: readonly ByteString[]): MaybePromise<number> {
    return this.guard(() => this.engine.delete(keys));
  }

  exists(keys: readonly ByteString[]): MaybePromise<number> {
    return this.guard(() =>
      this.engine.read(keys).then((reads) => {
        let n = 0;
        for (const r of reads) if (r.entry !== undefined) n++;
        return n;
      }),
    );
  }

  update<T>(key: ByteString, decide: (current: Entry | undefined) => Decision<T>): MaybePromise<Updated<T>> {
    return this.guard(async () => {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const [read] = (await this.engine.read([key])) as [EngineRead];
        const view = new TransactionView(new Map([[key, read]]), this.engine.now(), this, null);
        const { result } = view.update(key, decide);
        const writes = view.writes();
        // Nothing to write: the decision stands on what was read, a linearizable read.
        if (writes.length === 0) return { result, version: read.entry?.version ?? 0 };
        const versions = await this.engine.commit(view.expectations(), writes);
        if (versions !== null) return { result, version: versions.get(key) ?? 0 };
        await backoff(attempt);
      }
      throw contended([key]);
    });
  }

  atomically<T>(body: (backend: Backend) => MaybePromise<T>): MaybePromise<T> {
    return this.guard(() => this.transact(body));
  }

  /** One unit: read rounds until the body needs no key it has not read, commit, then the replies' run. */
  private async transact<T>(body: (backend: Backend) => MaybePromise<T>): Promise<T> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const at = this.engine.now();
      const base = new Map<ByteString, EngineRead>();
      let view: TransactionView;
      let rounds = 0;
      for (;;) {
        view = new TransactionView(base, at, this, null);
        runSync(body, view);
        if (view.missing.size === 0) break;
        if (++rounds > MAX_READ_ROUNDS) throw new KvError('SERVER', `a transaction went on reading new keys for ${MAX_READ_ROUNDS} rounds; it was not applied`);
        const keys = [...view.missing];
        const reads = await this.engine.read(keys);
        keys.forEach((k, i) => base.set(k, reads[i] as EngineRead));
      }
      const writes = view.writes();
      // One read round is one snapshot of every key: a unit that writes nothing needs no commit then.
      const versions = writes.length === 0 && rounds <= 1 ? new Map<ByteString, number>() : await this.engine.commit(view.expectations(), writes);
      if (versions !== null) return runSync(body, new TransactionView(base, at, this, versions));
      await backoff(attempt);
    }
    throw contended([]);
  }

  dbsize(): MaybePromise<number> {
    return this.guard(() => this.engine.dbsize());
  }

  scan(cursor: string, options: ScanOptions): MaybePromise<ScanPage | null> {
    return this.guard(() => this.scans.step(cursor, options));
  }

  keys(match: ((key: ByteString) => boolean) | null): MaybePromise<ByteString[]> {
    return this.guard(() => this.scans.all(match));
  }

  randomKey(): MaybePromise<ByteString | undefined> {
    return this.guard(() => this.engine.randomKey());
  }

  flush(): MaybePromise<number> {
    return this.guard(() => this.engine.flush());
  }

  revisionNow(): number {
    return this.engine.revisionNow();
  }

  changes(since: number, query: ChangeQuery): MaybePromise<ChangePage> {
    const changes = this.engine.changes;
    if (changes === null) {
      throw new KvError('NOT_SUPPORTED', `watching changes is not supported by the ${this.engine.name} backend (README "Guarantees by backend"); read the keys again instead`);
    }
    return this.guard(() => changes(since, query));
  }

  /** Null while the engine answers; else the error every operation fails with now. */
  writeBlocker(): KvError | null {
    return this.health.refusal();
  }

  keyspaceInfo(): KeyspaceInfo {
    return { keys: this.health.keys, expires: 0, avgTtl: 0, expiredKeys: 0, evictedKeys: 0 };
  }

  /** The key group of a command's keys (Redis Cluster's hash slots), for the command table's check. */
  get keyGroup(): ((key: ByteString) => number) | null {
    return this.engine.keyGroup;
  }

  /** Runs an operation while the engine is reachable; a failure to reach it makes the health check look again. */
  private guard<T>(op: () => Promise<T>): Promise<T> {
    const refused = this.health.refusal();
    if (refused !== null) return Promise.reject(refused);
    return op().catch((err: unknown) => {
      if (err instanceof KvError && err.code === 'BACKEND_UNAVAILABLE') this.health.failed();
      throw err;
    });
  }
}

/** Runs a unit's body over a view, where every operation answers at once. */
function runSync<T>(body: (backend: Backend) => MaybePromise<T>, view: TransactionView): T {
  const out = body(view);
  if (out instanceof Promise) {
    out.catch(() => undefined);
    throw new Error('a unit over a remote backend answered with a promise; its operations must answer at once over the transaction view');
  }
  return out;
}

function contended(keys: readonly ByteString[]): KvError {
  const which = keys.length === 1 ? 'its key was' : 'its keys were';
  return new KvError('TRY_AGAIN', `${which} written by others ${MAX_ATTEMPTS} times while this command ran; nothing was applied, try again`);
}

/** A short, growing, jittered wait before running a lost race again. */
function backoff(attempt: number): Promise<void> {
  if (attempt === 0) return Promise.resolve();
  const ms = Math.random() * Math.min(50, 2 ** Math.min(attempt, 6));
  return new Promise((resolve) => setTimeout(resolve, ms));
}

