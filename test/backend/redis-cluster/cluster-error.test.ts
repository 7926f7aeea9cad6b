import { describe, expect, it } from 'vitest';
import { clusterError } from '../../../src/backend/redis-cluster/redis-cluster-engine.js';

/** ioredis's messages as the gateway met them at a failover (test/backend/remote/redis-cluster-faults.test.ts). */
describe('Redis Cluster errors', () => {
  const table: Array<[string, { code: string; mayHaveApplied: boolean }]> = [
    // The node's connection closed with the command on it, or before: it may have run.
    ['Connection is closed.', { code: 'BACKEND_UNAVAILABLE', mayHaveApplied: true }],
    ['Too many Cluster redirections. Last error: Error: Connection is closed.', { code: 'BACKEND_UNAVAILABLE', mayHaveApplied: true }],
    ['Reached the max retries per request limit (which is 0). Refer to "maxRetriesPerRequest" option for details.', { code: 'BACKEND_UNAVAILABLE', mayHaveApplied: true }],
    ['Command timed out', { code: 'BACKEND_UNAVAILABLE', mayHaveApplied: true }],
    // The cluster refused it: nothing ran.
    ['Too many Cluster redirections. Last error: ReplyError: CLUSTERDOWN The cluster is down', { code: 'BACKEND_UNAVAILABLE', mayHaveApplied: false }],
    ['TRYAGAIN Multiple keys request during rehashing of slot', { code: 'TRY_AGAIN', mayHaveApplied: false }],
    ["CROSSSLOT Keys in request don't hash to the same slot", { code: 'CROSS_SLOT', mayHaveApplied: false }],
  ];
  for (const [message, want] of table) {
    it(`reads "${message.slice(0, 60)}" as ${want.code}${want.mayHaveApplied ? ', outcome unknown' : ', nothing applied'}`, () => {
      const err = clusterError(new Error(message));
      expect(err.code).toBe(want.code);
      // errors.ts: nothing was applied unless the message says it may have been.
      expect(/may or may not have been applied/.test(err.message)).toBe(want.mayHaveApplied);
    });
  }
});
