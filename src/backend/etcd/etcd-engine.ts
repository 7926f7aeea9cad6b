import { noop } from 'cockatiel';
import { Etcd3, type IOptions } from 'etcd3';
import { KvError } from '../../errors.js';
import { describeEtcd } from '../backend-config.js';
import { bytesToString, type ByteString } from '../../store/bytes.js';
import type { Engine, EngineRead, EngineScanStep, EngineWrite } from '../remote/engine.js';
import type { ChangePage, ChangeQuery } from '../types.js';
import { decodeValue, encodeValue } from './envelope.js';
import { EtcdWatchCache } from './etcd-changes.js';
import { etcdError, lostInFlight, wasNotSent } from './etcd-errors.js';
import { EtcdRequestLedger } from './etcd-request-ledger.js';
import { prefixOverlap, requestPrefixFor } from './request-prefix.js';
import { LeaseBuckets } from './lease-buckets.js';

export interface EtcdSettings {
  /** Endpoints, http(s)://host:port. */
  readonly endpoints: readonly string[];
  /** Every key lives under this prefix (default dualkv/). */
  readonly prefix: string;
  /** The UDP request records live under this prefix, outside `prefix`'s range (request-ledger.ts); default requestPrefixFor(prefix). */
  readonly requestPrefix?: string;
  readonly user?: string;
  readonly password?: string;
  /** PEM contents. */
  readonly tls?: { readonly ca?: string; readonly cert?: string; readonly key?: string } | null;
  /** How long one request may wait for its answer, in ms. */
  readonly requestTimeoutMs?: number;
}

/**
 * The largest reply the gateway takes from etcd (gRPC's default is 4 MiB, less than MGET of
 * five 1 MiB values). etcd's own defaults bound a reply of ours to 128 operations of at most
 * 1.5 MiB each (--max-txn-ops, --max-request-bytes): 192 MiB.
 */
const ETCD_MAX_REPLY_BYTES = 256 * 1024 * 1024;
/** Values read at once to tell live keys from expired ones in a walk (live()). */
const LIVE_READS = 16;
/** Expired keys in a row RANDOMKEY steps over before it starts again from the first key (Redis gives up after 100). */
const RANDOM_KEY_STEPS = 100;
/** The etcd3 client's circuit breaker per member: this many failures in a row and it sends the member nothing for 5 s. */
const ENDPOINT_FAILURES_TO_SKIP = 3;

type KeyValue = { key: Buffer; value: Buffer; mod_revision: string };
type RequestOp = NonNullable<Parameters<Etcd3['kv']['txn']>[0]['success']>[number];
type Compare = NonNullable<Parameters<Etcd3['kv']['txn']>[0]['compare']>[number];

/**
 * The etcd engine, through the etcd3 client (gRPC). Every read is a linearizable range,
 * every write a put, delete or transaction; a key's version is its mod_revision. Keys
 * live under a prefix, values in an envelope that carries their exact expiry
 * (envelope.ts), and keys with an expiry on leases shared per second (lease-buckets.ts).
 *
 * The client retries nothing by itself: a request whose answer was lost may have been
 * applied, and a compare-and-retry that resent it could apply it twice. The caller gets
 * BACKEND_UNAVAILABLE saying so instead.
 */
export class EtcdEngine implements Engine {
  readonly name = 'etcd' as const;
  readonly keyGroup = null;
  /** Backend.changes through etcd's watch, kept by a watch cache (etcd-changes.ts). */
  readonly changes = (since: number, query: ChangeQuery): Promise<ChangePage> => this.watchCache.changes(since, query);
  private readonly watchCache: EtcdWatchCache;
  readonly requests: EtcdRequestLedger;
  private readonly client: Etcd3;
  private readonly prefix: Buffer;
  /** The first key past every prefixed key (the prefix with its last byte raised). */
  private readonly prefixEnd: Buffer;
  private readonly leases: LeaseBuckets;
  private revision = 0;

  constructor(private readonly settings: EtcdSettings) {
    const timeout = settings.requestTimeoutMs ?? 5000;
    const tls = settings.tls ?? null;
    const options: IOptions = {
      hosts: settings.endpoints.map((e) => e.trim()),
      dialTimeout: 2000,
      defaultCallOptions: () => ({ deadline: new Date(Date.now() + timeout) }),
      faultHandling: { global: noop },
      grpcOptions: { 'grpc.max_receive_message_length': ETCD_MAX_REPLY_BYTES },
      ...(settings.user === undefined ? {} : { auth: { username: settings.user, password: settings.password ?? '' } }),
      ...(tls === null
        ? {}
        : {
            credentials: {
              rootCertificate: Buffer.from(tls.ca ?? ''),
              ...(tls.key === undefined ? {} : { privateKey: Buffer.from(tls.key) }),
              ...(tls.cert === undefined ? {} : { certChain: Buffer.from(tls.cert) }),
            },
          }),
    };
    this.client = new Etcd3(options);
    this.prefix = Buffer.from(settings.prefix, 'latin1');
    this.prefixEnd = rangeEnd(this.prefix);
    this.leases = new LeaseBuckets(
      (ttl) => this.call(() => this.client.leaseClient.leaseGrant({ TTL: ttl, ID: 0 })).then((r) => r.ID),
      () => this.now(),
    );
    const requestPrefix = settings.requestPrefix ?? requestPrefixFor(settings.prefix);
    const overlap = prefixOverlap(settings.prefix, requestPrefix);
    if (overlap !== null) throw new Error(overlap);
    this.watchCache = new EtcdWatchCache(
      this.client,
      { prefix: this.prefix, prefixEnd: this.prefixEnd },
      () => this.call(() => this.client.kv.range({ key: this.prefix, range_end: this.prefixEnd, count_only: true }), 'read').then((r) => this.seen(r.header.revision)),
      (rev) => this.seen(rev),
    );
    this.requests = new EtcdRequestLedger(this.client, requestPrefix, this.leases, () => this.now(), (op) => this.call(op));
  }

  now(): number {
    return Date.now();
  }

  describe(): string {
    return describeEtcd(this.settings);
  }

  revisionNow(): number {
    return this.revision;
  }

  async read(keys: readonly ByteString[]): Promise<EngineRead[]> {
    if (keys.length === 0) return [];
    if (keys.length === 1) {
      const r = await this.call(() => this.client.kv.range({ key: this.key(keys[0] as ByteString) }), 'read');
      this.seen(r.header.revision);
      return [this.toRead(r.kvs[0] as KeyValue | undefined)];
    }
    // One transaction of ranges: one revision for every key.
    const success: RequestOp[] = keys.map((k) => ({ request_range: { key: this.key(k) } }));
    const r = await this.call(() => this.client.kv.txn({ success }), 'read');
    this.seen(r.header.revision);
    return r.responses.map((op) => this.toRead(op.response_range.kvs[0] as KeyValue | undefined));
  }

  async commit(expect: ReadonlyMap<ByteString, number>, writes: readonly EngineWrite[]): Promise<Map<ByteString, number> | null> {
    const compare: Compare[] = [];
    for (const [key, revision] of expect) compare.push({ key: this.key(key), target: 'Mod', result: 'Equal', mod_revision: revision });
    const success: RequestOp[] = [];
    for (const w of writes) {
      if (w.kind === 'del') success.push({ request_delete_range: { key: this.key(w.key) } });
      else success.push({ request_put: await this.putRequest(w.key, w.value, w.expiresAt) });
    }
    const r = await this.call(() => this.client.kv.txn({ compare, success }));
    this.seen(r.header.revision);
    if (!r.succeeded) return null;
    const versions = new Map<ByteString, number>();
    const rev = Number(r.header.revision);
    for (const w of writes) versions.set(w.key, w.kind === 'del' ? 0 : rev);
    return versions;
  }

  async put(key: ByteString, value: ByteString): Promise<number> {
    const r = await this.call(() => this.client.kv.put({ key: this.key(key), value: encodeValue(value, 0) }));
    return this.seen(r.header.revision);
  }

  async delete(keys: readonly ByteString[]): Promise<number> {
    if (keys.length === 0) return 0;
    const success: RequestOp[] = keys.map((k) => ({ request_delete_range: { key: this.key(k), prev_kv: true } }));
    const r = await this.call(() => this.client.kv.txn({ success }));
    this.seen(r.header.revision);
    // A key whose expiry passed, waiting for its lease, was not there for the client.
    let n = 0;
    const now = this.now();
    for (const op of r.responses) {
      const prev = op.response_delete_range.prev_kvs[0];
      if (prev !== undefined && isLive(decodeValue(prev.value), now)) n++;
    }
    return n;
  }

  async dbsize(): Promise<number> {
    const r = await this.call(() => this.client.kv.range({ key: this.prefix, range_end: this.prefixEnd, count_only: true }), 'read');
    this.seen(r.header.revision);
    return Number(r.count);
  }

  /** `from`: the first key (prefixed) still to look at. */
  async scan(from: unknown, count: number): Promise<EngineScanStep> {
    const start = (from as Buffer | null) ?? this.prefix;
    const r = await this.call(() => this.client.kv.range({ key: start, range_end: this.prefixEnd, limit: count, keys_only: true }), 'read');
    this.seen(r.header.revision);
    const keys = (await this.live(r.kvs)).map((kv) => bytesToString(kv.key, this.prefix.length));
    const last = r.kvs[r.kvs.length - 1];
    if (!r.more || last === undefined) return { keys, next: null };
    return { keys, next: Buffer.concat([last.key, Buffer.from([0])]) };
  }

  /**
   * The keys of a keys-only range that are live: a key on a lease has an expiry, which may
   * have passed while the lease (up to two seconds late) still holds it, so its value is
   * read for the exact time. One range each, at most LIVE_READS at once: a transaction of
   * them could pass gRPC's 4 MiB limit on one reply.
   */
  private async live(kvs: ReadonlyArray<{ key: Buffer; lease: string }>): Promise<ReadonlyArray<{ key: Buffer }>> {
    const leased = kvs.filter((kv) => kv.lease !== '0' && kv.lease !== '');
    if (leased.length === 0) return kvs;
    const dead = new Set<Buffer>();
    for (let i = 0; i < leased.length; i += LIVE_READS) {
      await Promise.all(
        leased.slice(i, i + LIVE_READS).map(async (kv) => {
          const r = await this.call(() => this.client.kv.range({ key: kv.key }));
          const now = r.kvs[0];
          if (now === undefined || !isLive(decodeValue(now.value), this.now())) dead.add(kv.key);
        }),
      );
    }
    return kvs.filter((kv) => !dead.has(kv.key));
  }

  /** A key at a random place of the key range; etcd has no random read, so keys after a gap come more often. */
  async randomKey(): Promise<ByteString | undefined> {
    const start = Buffer.concat([this.prefix, Buffer.from([Math.floor(Math.random() * 256), Math.floor(Math.random() * 256)])]);
    // A key whose expiry passed but whose lease still holds it is not one (Backend.randomKey: a live key).
    for (const key of [start, this.prefix]) {
      let from = key;
      for (let step = 0; step < RANDOM_KEY_STEPS; step++) {
        const r = await this.call(() => this.client.kv.range({ key: from, range_end: this.prefixEnd, limit: 1, keys_only: true }), 'read');
        const kv = r.kvs[0];
        if (kv === undefined) break;
        if ((await this.live([kv])).length > 0) return bytesToString(kv.key, this.prefix.length);
        from = Buffer.concat([kv.key, Buffer.from([0])]);
      }
    }
    return undefined;
  }

  async flush(): Promise<number> {
    const r = await this.call(() => this.client.kv.deleteRange({ key: this.prefix, range_end: this.prefixEnd }));
    this.seen(r.header.revision);
    return Number(r.deleted);
  }

  async ping(): Promise<void> {
    // A linearizable read: it answers only with a leader and a quorum behind it.
    await this.dbsize();
  }

  async close(): Promise<void> {
    this.watchCache.close();
    this.client.close();
  }

  private key(key: ByteString): Buffer {
    const buf = Buffer.allocUnsafe(this.prefix.length + key.length);
    this.prefix.copy(buf, 0);
    buf.write(key, this.prefix.length, 'latin1');
    return buf;
  }

  private toRead(kv: KeyValue | undefined): EngineRead {
    if (kv === undefined) return { entry: undefined, revision: 0 };
    const revision = Number(kv.mod_revision);
    const stored = decodeValue(kv.value);
    if (stored === null) {
      throw new KvError('SERVER', `etcd holds ${bytesToString(kv.key)} in a form dualkv did not write; delete it or use another --etcd-prefix`);
    }
    if (!isLive(stored, this.now())) return { entry: undefined, revision };
    return { entry: { value: stored.value, version: revision, expiresAt: stored.expiresAt }, revision };
  }

  private async putRequest(key: ByteString, value: ByteString, expiresAt: number): Promise<NonNullable<RequestOp['request_put']>> {
    const req = { key: this.key(key), value: encodeValue(value, expiresAt) };
    return expiresAt > 0 ? { ...req, lease: await this.leases.leaseFor(expiresAt) } : req;
  }

  private seen(revision: string | number): number {
    const rev = Number(revision);
    if (rev > this.revision) this.revision = rev;
    return rev;
  }

  /**
   * Runs one request. The client picks a member at random for each, so one that cannot
   * reach its member (down: README "served while a majority runs") is sent again, to
   * another: a request that never left cannot apply twice, and a read that lost its
   * connection can be asked again. A dead member fails ENDPOINT_FAILURES_TO_SKIP requests
   * before the client skips it, which bounds the attempts.
   */
  private async call<T>(op: () => Promise<T>, kind: 'read' | 'write' = 'write'): Promise<T> {
    const attempts = ENDPOINT_FAILURES_TO_SKIP * this.settings.endpoints.length + 1;
    for (let attempt = 1; ; attempt++) {
      try {
        return await op();
      } catch (err) {
        const again = wasNotSent(err) || (kind === 'read' && lostInFlight(err));
        if (!again || attempt >= attempts) throw etcdError(err);
      }
    }
  }
}

function isLive(stored: { expiresAt: number } | null, now: number): boolean {
  // As in Redis, a key lives through its expiry millisecond.
  return stored !== null && (stored.expiresAt === 0 || stored.expiresAt >= now);
}

/** The end of the range of keys that start with `prefix`. */
function rangeEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

