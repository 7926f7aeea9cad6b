import type { Etcd3 } from 'etcd3';
import { KvError } from '../../errors.js';
import { encodeRecord, readRecord, RECORD_DONE, RECORD_RUNNING, type LedgerClaim, type RequestId, type RequestLedger } from '../request-ledger.js';
import type { LeaseBuckets } from './lease-buckets.js';
import { recordsWhere } from './request-prefix.js';

/**
 * The UDP request record (request-ledger.ts) in etcd: one key per request under its own
 * prefix, outside the keyspace's, on the leases shared per second (lease-buckets.ts), so
 * a record ends at most two seconds after its window. The claim is one transaction: put
 * the record if no key of that name exists, else read it.
 */
export class EtcdRequestLedger implements RequestLedger {
  private readonly prefix: Buffer;

  constructor(
    private readonly client: Etcd3,
    prefix: string,
    private readonly leases: LeaseBuckets,
    private readonly now: () => number,
    /** The engine's way to send a write to etcd: a request that never left goes to another member; failures as KvErrors. */
    private readonly call: <T>(op: () => Promise<T>) => Promise<T>,
  ) {
    this.prefix = Buffer.from(prefix, 'latin1');
    this.where = recordsWhere(prefix);
  }

  readonly where: string;

  async claim(id: RequestId, fingerprint: number, windowMs: number): Promise<LedgerClaim> {
    const key = this.key(id);
    const lease = await this.leases.leaseFor(this.now() + windowMs);
    const r = await this.call(() =>
      this.client.kv.txn({
        compare: [{ key, target: 'Create', result: 'Equal', create_revision: 0 }],
        success: [{ request_put: { key, value: encodeRecord(RECORD_RUNNING, fingerprint), lease } }],
        failure: [{ request_range: { key } }],
      }),
    );
    if (r.succeeded) return { kind: 'claimed', token: lease };
    const found = r.responses[0]?.response_range.kvs[0];
    // Gone between the compare and the read cannot happen in one transaction; a lease
    // that ended meanwhile leaves nothing, and nothing is safe to treat as running.
    if (found === undefined) return { kind: 'running' };
    const claim = readRecord(found.value, fingerprint);
    if (claim === null) throw new KvError('SERVER', `etcd holds ${found.key.toString('latin1')} in a form dualkv did not write; keep --etcd-request-prefix for dualkv alone`);
    return claim;
  }

  async complete(id: RequestId, fingerprint: number, reply: Buffer, token: unknown): Promise<void> {
    await this.call(() => this.client.kv.put({ key: this.key(id), value: encodeRecord(RECORD_DONE, fingerprint, reply), lease: token as string }));
  }

  async release(id: RequestId): Promise<void> {
    await this.call(() => this.client.kv.deleteRange({ key: this.key(id) }));
  }

  private key(id: RequestId): Buffer {
    return Buffer.concat([this.prefix, Buffer.from(id, 'latin1')]);
  }
}
