import { afterEach, describe, expect, it } from 'vitest';
import { startChaosProxy, type ChaosProxy } from '../../clients/lib/chaos-proxy.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { udpStats } from '../frontends/udp-helpers.js';
import { runWorkload } from './chaos-workload.js';

/** Faults in both directions, as the issue asks: 20% loss, 5% corruption, 5% duplication, reordering, delay. */
const FAULTS = { drop: 0.2, corrupt: 0.05, duplicate: 0.05, reorder: 0.05, delayMs: 10 } as const;

/**
 * Client timing for loopback through the proxy: a first wait a few times the
 * proxy's delay, capped backoff, and enough retries that a request survives
 * ~42% loss per attempt (0.42^21 ≈ 1e-8 per request).
 */
const CLIENT = { timeoutMs: 30, retries: 20, maxTimeoutMs: 200, backoffFactor: 2, randomFactor: 1.5 } as const;

/** Waits, one event-loop turn at a time, until `done()`; bounded in turns and in time. */
async function eventually(done: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let turn = 0; !done(); turn++) {
    if (turn > 1_000_000 || Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

describe('UDP through a chaos proxy (loss, corruption, duplication, reordering and delay, both ways)', () => {
  let srv: TestServer | null = null;
  let proxy: ChaosProxy | null = null;
  afterEach(async () => {
    await proxy?.close();
    await srv?.stop();
    proxy = srv = null;
  });

  it('completes 5,088 mixed ops from 8 clients, each write taking effect exactly once; corrupted datagrams are all counted', async () => {
    srv = await startTestServer({ logOps: false });
    const p = await startChaosProxy({ targetHost: '127.0.0.1', targetPort: srv.udpPort, seed: 20261121, ...FAULTS });
    proxy = p;
    const server = srv.server;
    let clientCorrupted = 0;
    const result = await runWorkload({
      port: p.port,
      clients: 8,
      keysPerClient: 12,
      opsPerKey: 53,
      seed: 7,
      client: CLIENT,
      // Let every datagram still in the proxy land before counting.
      async beforeClose(badReplies) {
        await p.idle();
        const s = p.stats();
        await eventually(() => Number(udpStats(server).udp_rejected) >= s.toServer.corrupted, 'the server to refuse the corrupted requests');
        await eventually(() => badReplies() >= s.toClient.corrupted, 'the clients to drop the corrupted replies');
        clientCorrupted = badReplies();
      },
    });

    expect(result.ops).toBe(5088);
    expect(result.failures).toEqual([]);
    expect(result.mismatches).toEqual([]);
    // The final store is the model built from the acknowledged operations.
    const store = server.backend;
    const actual = new Map([...result.model.keys()].map((k) => [k, store.get(k)?.value]));
    expect(actual).toEqual(result.model);
    expect(store.size).toBe([...result.model.values()].filter((v) => v !== undefined).length);

    // Every corrupted datagram that reached the server was refused, and nothing else was.
    const s = p.stats();
    const stats = udpStats(server);
    expect(s.toServer.corrupted).toBeGreaterThan(50);
    expect(stats.udp_rejected).toBe(s.toServer.corrupted);
    expect(Number(stats.udp_rejected_bad_checksum) + Number(stats.udp_rejected_bad_magic)).toBe(s.toServer.corrupted);
    // ... and every corrupted reply was thrown away by a client, none taken for an answer.
    expect(clientCorrupted).toBe(s.toClient.corrupted);
    // The faults really happened, and retries were answered from the reply cache.
    for (const dir of [s.toServer, s.toClient]) {
      expect(dir.dropped).toBeGreaterThan(0);
      expect(dir.duplicated).toBeGreaterThan(0);
      expect(dir.reordered).toBeGreaterThan(0);
      expect(dir.delayed).toBeGreaterThan(0);
    }
    expect(result.retries).toBeGreaterThan(500);
    expect(result.refusals).toBeGreaterThan(0);
    expect(stats.udp_reply_cache_hits).toBeGreaterThan(0);
    expect(stats.udp_reply_cache_evictions).toBe(0);
  });

  it('catches writes applied twice: with a one-entry reply cache, the same workload breaks the model', async () => {
    srv = await startTestServer({ logOps: false, udp: { replyCacheEntries: 1 } });
    proxy = await startChaosProxy({ targetHost: '127.0.0.1', targetPort: srv.udpPort, seed: 99, ...FAULTS });
    const result = await runWorkload({ port: proxy.port, clients: 8, keysPerClient: 8, opsPerKey: 20, seed: 11, client: CLIENT });
    expect(result.failures).toEqual([]);
    // Retried DELs of keys already deleted now answer NOT_FOUND: the check has teeth.
    expect(result.mismatches.length).toBeGreaterThan(0);
    expect(result.mismatches.some((m) => m.startsWith('DEL'))).toBe(true);
    expect(udpStats(srv.server).udp_reply_cache_evictions).toBeGreaterThan(0);
  });
});
