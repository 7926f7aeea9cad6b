/** A lease lives this many seconds past its bucket's end, so that it never ends before a key's expiry. */
const LEASE_SLACK_SEC = 1;

/**
 * The leases the etcd backend attaches to keys that expire: one per second of expiry
 * time, shared by every key this gateway writes that expires in that second, instead of
 * one per key (etcd keeps every lease in memory and on disk). A key's exact expiry is in
 * its value (envelope.ts); the lease only reclaims it, up to LEASE_SLACK_SEC + 1 s late.
 */
export class LeaseBuckets {
  /** Second → the lease granted for it (a promise, so that writes at once share one grant). */
  private readonly leases = new Map<number, Promise<string>>();

  constructor(
    /** Grants a lease of `ttlSec` seconds; answers its id. */
    private readonly grant: (ttlSec: number) => Promise<string>,
    private readonly now: () => number,
  ) {}

  /** The lease for a key that expires at `expiresAt` (ms since the epoch). */
  leaseFor(expiresAt: number): Promise<string> {
    const second = Math.ceil(expiresAt / 1000);
    let lease = this.leases.get(second);
    if (lease === undefined) {
      this.forgetPast();
      const ttl = Math.max(1, second - Math.floor(this.now() / 1000) + LEASE_SLACK_SEC);
      lease = this.grant(ttl);
      // A failed grant is not kept: the next write asks again.
      lease.catch(() => this.leases.delete(second));
      this.leases.set(second, lease);
    }
    return lease;
  }

  /** Buckets whose second has passed: their leases are ending, no new key goes on them. */
  private forgetPast(): void {
    const nowSec = Math.floor(this.now() / 1000);
    for (const second of this.leases.keys()) if (second <= nowSec) this.leases.delete(second);
  }

  get size(): number {
    return this.leases.size;
  }
}
