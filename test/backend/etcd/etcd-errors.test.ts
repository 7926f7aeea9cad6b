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
