import { describe, expect, it } from 'vitest';
import { etcdError, lostInFlight, wasNotSent } from '../../../src/backend/etcd/etcd-errors.js';

/** The messages as the etcd3 client (over grpc-js) gave them when a member was killed (test/backend/remote/etcd-faults.test.ts). */
const REFUSED = '14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:46503. Resolution note: ';
const RESET = '14 UNAVAILABLE: read ECONNRESET';
const DROPPED = '14 UNAVAILABLE: Connection dropped';
const LEADER_CHANGED = '14 UNAVAILABLE: etcdserver: leader changed';
const NO_LEADER = '14 UNAVAILABLE: etcdserver: no leader';
const DEADLINE = '4 DEADLINE_EXCEEDED: Deadline exceeded after 2.999s,remote_addr=127.0.0.1:46503';

describe('etcd errors', () => {
  const table: Array<[string, { notSent: boolean; inFlight: boolean; mayHaveApplied: boolean }]> = [
    [REFUSED, { notSent: true, inFlight: false, mayHaveApplied: false }],
    [RESET, { notSent: false, inFlight: true, mayHaveApplied: true }],
    [DROPPED, { notSent: false, inFlight: true, mayHaveApplied: true }],
    [LEADER_CHANGED, { notSent: false, inFlight: false, mayHaveApplied: true }],
    [NO_LEADER, { notSent: false, inFlight: false, mayHaveApplied: false }],
    [DEADLINE, { notSent: false, inFlight: false, mayHaveApplied: true }],
  ];
  for (const [message, want] of table) {
    it(`reads "${message.slice(0, 50)}" as ${want.notSent ? 'never sent' : want.mayHaveApplied ? 'an unknown outcome' : 'refused'}`, () => {
      const err = new Error(message);
      expect(wasNotSent(err)).toBe(want.notSent);
      expect(lostInFlight(err)).toBe(want.inFlight);
      const kv = etcdError(err);
      expect(kv.code).toBe('BACKEND_UNAVAILABLE');
      // errors.ts: nothing was applied unless the message says it may have been.
      expect(/may or may not have been applied/.test(kv.message)).toBe(want.mayHaveApplied);
    });
  }
});

describe('etcd errors that are not about reaching etcd', () => {
  it("reads the gRPC client's refusal of a reply too large as VALUE_TOO_LARGE with both sizes, not as etcd unavailable", () => {
    // As grpc-js gave it for MGET of five 1 MiB values under its default 4 MiB limit.
    const err = new Error('8 RESOURCE_EXHAUSTED: Received message larger than max (5243144 vs 4194304)');
    expect(wasNotSent(err)).toBe(false);
    expect(lostInFlight(err)).toBe(false);
    const kv = etcdError(err);
    expect(kv.code).toBe('VALUE_TOO_LARGE');
    expect(kv.message).toBe(
      "etcd's reply of 5243144 bytes is over the 4194304 bytes the gateway takes in one reply; read fewer or smaller keys at once (a write it answered may have been applied)",
    );
  });

  it("reads etcd's refusal of a request too large as VALUE_TOO_LARGE about the request", () => {
    for (const message of ['3 INVALID_ARGUMENT: etcdserver: request is too large', '8 RESOURCE_EXHAUSTED: grpc: received message larger than max (2097200 vs. 2097152)']) {
      const kv = etcdError(new Error(message));
      expect(kv.code, message).toBe('VALUE_TOO_LARGE');
      expect(kv.message, message).toMatch(/^etcd refused the request as too large/);
    }
  });
});
