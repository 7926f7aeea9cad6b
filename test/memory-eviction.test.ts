/**
 * Eviction in a real server at --maxmemory, over RESP: each policy, which keys go,
 * what INFO says, and that a restart agrees with what was evicted. The server's
 * sampler draws on Math.random, so the statistical bounds are margins: each says how
 * far a random choice would be from it, or how unlikely a false failure is.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../clients/lib/chaos-random.js';
import { EVICTION_POLICIES, type EvictionPolicy } from '../src/backend/memory/eviction.js';
import type { MemoryConfig } from '../src/config.js';
import { OOM_MESSAGE } from '../src/memory.js';
import { multibulk, respReplies, type RespValue } from './frontends/resp-reader.js';
import { ManualClock, serverFixture, startTestServer } from './helpers/server.js';
import { RawClient } from './helpers/socket.js';

const MiB = 1024 * 1024;
const VALUE = 'v'.repeat(1000);
const OOM = { error: `OOM ${OOM_MESSAGE}` };
const HOUR = 3_600_000;

const limit = (policy: EvictionPolicy, maxmemory = 2 * MiB): MemoryConfig => ({ maxmemory, policy, samples: 5, maxmemoryClients: 32 * MiB });

/** Sends commands pipelined on one connection; their replies, in order. */
async function send(c: RawClient, commands: readonly string[][]): Promise<RespValue[]> {
  c.clear();
  c.write(Buffer.concat(commands.map((words) => multibulk(...words))));
  return respReplies(c, commands.length);
}

/** INFO's fields, every section in one map. */
async function info(c: RawClient): Promise<Record<string, string>> {
  const [text] = await send(c, [['INFO']]);
  return Object.fromEntries(
    String(text)
      .split('\r\n')
      .filter((l) => l.includes(':'))
      .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)]),
  );
}

const evictedKeys = async (c: RawClient): Promise<number> => Number((await info(c)).evicted_keys);

/** Which of `keys` exist. */
async function existing(c: RawClient, keys: readonly string[]): Promise<Set<string>> {
  const present = new Set<string>();
  for (let i = 0; i < keys.length; i += 200) {
    const chunk = keys.slice(i, i + 200);
    (await send(c, chunk.map((k) => ['EXISTS', k]))).forEach((r, j) => r === 1 && present.add(chunk[j] as string));
  }
  return present;
}

/** Each key's value and PEXPIRETIME. */
async function valuesAndExpiries(c: RawClient, keys: readonly string[]): Promise<Map<string, RespValue[]>> {
  const out = new Map<string, RespValue[]>();
  for (let i = 0; i < keys.length; i += 100) {
    const chunk = keys.slice(i, i + 100);
    const replies = await send(c, chunk.flatMap((k) => [['GET', k], ['PEXPIRETIME', k]]));
    chunk.forEach((k, j) => out.set(k, replies.slice(2 * j, 2 * j + 2)));
  }
  return out;
}

/**
 * Writes `make(i)` for i = `from`, `from` + 1, … in batches of 50 until `stop` says so after
 * a batch (it is told how many of that batch were refused with OOM), or `max` writes.
 * Returns the keys acknowledged and how many writes were refused. (Past the limit a write
 * can be refused even when there is a key to evict: eviction has a time budget a write.)
 */
async function writeUntil(
  c: RawClient,
  make: (i: number) => string[],
  stop: (refusedInBatch: number) => boolean | Promise<boolean>,
  max = 5000,
  from = 0,
): Promise<{ stored: string[]; refused: number }> {
  const stored: string[] = [];
  let refused = 0;
  for (let i = from; i < from + max; i += 50) {
    const batch = Array.from({ length: 50 }, (_, j) => make(i + j));
    let refusedNow = 0;
    (await send(c, batch)).forEach((r, j) => {
      if (JSON.stringify(r) === '{"status":"OK"}') stored.push((batch[j] as string[])[1] as string);
      else if (JSON.stringify(r) === JSON.stringify(OOM)) refusedNow++;
      else throw new Error(`${(batch[j] as string[]).slice(0, 2).join(' ')} answered ${JSON.stringify(r)}`);
    });
    refused += refusedNow;
    if (await stop(refusedNow)) break;
  }
  return { stored, refused };
}

/** Fills to the limit with keys `prefix:i` (their TTL from `ttl`, 0: none) until the first eviction. */
function fillToLimit(c: RawClient, prefix: string, ttl: (i: number) => number): Promise<{ stored: string[]; refused: number }> {
  return writeUntil(
    c,
    (i) => (ttl(i) > 0 ? ['SET', `${prefix}:${i}`, VALUE, 'PX', String(ttl(i))] : ['SET', `${prefix}:${i}`, VALUE]),
    async () => (await evictedKeys(c)) > 0,
  );
}

const never = (): boolean => false;

describe('eviction at --maxmemory, by policy', () => {
  const fx = serverFixture();

  for (const policy of EVICTION_POLICIES) {
    const volatileOnly = policy.startsWith('volatile-');
    const expected =
      policy === 'noeviction'
        ? 'refuses writes with OOM and evicts nothing'
        : volatileOnly
          ? 'evicts keys with a TTL only, and answers OOM once only keys without one are left'
          : 'evicts keys with and without a TTL, and keeps taking writes';
    it(`${policy} ${expected}; INFO memory shows the policy and the evicted keys`, async () => {
      await fx.start({ logOps: false, memory: limit(policy) }, { clock: new ManualClock().now });
      const c = await fx.connect();
      // Keys without a TTL and keys with one (an hour; the clock stands still), one after the other, to the limit.
      const fill = await writeUntil(
        c,
        (i) => (i % 2 === 0 ? ['SET', `p:${i}`, VALUE] : ['SET', `v:${i}`, VALUE, 'PX', String(HOUR)]),
        async (refused) => (policy === 'noeviction' ? refused > 0 : (await evictedKeys(c)) > 0),
      );
      // Then only keys without a TTL: for volatile-*, until no key with a TTL is left and writes are refused.
      const volatileLeft = async () => (await existing(c, fill.stored.filter((k) => k.startsWith('v:')))).size;
      const more = await writeUntil(
        c,
        (i) => ['SET', `n:${i}`, VALUE],
        async (refused) => volatileOnly && refused > 0 && (await volatileLeft()) === 0,
        3000,
      );
      const written = [...fill.stored, ...more.stored];
      const kept = await existing(c, written);
      const lost = written.filter((k) => !kept.has(k));
      const fields = await info(c);
      expect(fields.maxmemory_policy).toBe(policy);
      expect(Number(fields.evicted_keys)).toBe(lost.length);
      expect(Number((await send(c, [['DBSIZE']]))[0])).toBe(kept.size);

      if (policy === 'noeviction') {
        expect(fill.refused).toBeGreaterThan(0);
        expect(more.refused).toBeGreaterThan(2900);
        expect(lost).toEqual([]);
      } else if (volatileOnly) {
        expect(lost.every((k) => k.startsWith('v:')), 'only keys with a TTL were evicted').toBe(true);
        expect(await volatileLeft()).toBe(0);
        expect(more.refused, 'OOM once no key with a TTL is left').toBeGreaterThan(0);
        expect(more.stored.length).toBeGreaterThan(100);
      } else {
        // Every write goes on (a refusal is possible only when eviction ran out of its time budget).
        expect(more.refused).toBeLessThan(30);
        expect(lost.some((k) => k.startsWith('v:')) && lost.some((k) => !k.startsWith('v:'))).toBe(true);
      }
    });
  }

  it('allkeys-lru evicts keys not read recently far more often than keys read recently', async () => {
    const clock = new ManualClock();
    await fx.start({ logOps: false, memory: limit('allkeys-lru') }, { clock: clock.now });
    const c = await fx.connect();
    const fill = await fillToLimit(c, 'k', () => 0);
    const present = [...(await existing(c, fill.stored))];
    // The read half is chosen at random, not by the order of writing.
    const random = seededRandom(5);
    const hot = new Set(present.filter(() => random() < 0.5));
    for (let round = 0; round < 5; round++) {
      clock.advance(1000);
      const reads = [...hot];
      for (let i = 0; i < reads.length; i += 100) await send(c, reads.slice(i, i + 100).map((k) => ['GET', k]));
    }
    clock.advance(1000);
    // Writes until a quarter of the keys is evicted.
    const before = await evictedKeys(c);
    const target = Math.floor(present.length / 4);
    await writeUntil(c, (i) => ['SET', `new:${i}`, VALUE], async () => (await evictedKeys(c)) - before >= target);
    const kept = await existing(c, present);
    const hotGone = [...hot].filter((k) => !kept.has(k)).length;
    const coldGone = present.filter((k) => !hot.has(k) && !kept.has(k)).length;
    // The keys written meanwhile are the most recently used: the evictions come from the keys there before.
    expect(hotGone + coldGone).toBeGreaterThanOrEqual(target);
    // A random choice would take about half from the read keys (sd under 4% of the evictions at this size):
    // at most 10% is more than 10 sd below that. The sampler takes almost none while unread keys remain.
    expect(hotGone, `${hotGone} read and ${coldGone} unread keys evicted`).toBeLessThanOrEqual(0.1 * (hotGone + coldGone));
  });

  it('volatile-ttl evicts the keys that expire soonest first', async () => {
    await fx.start({ logOps: false, memory: limit('volatile-ttl') }, { clock: new ManualClock().now });
    const c = await fx.connect();
    // TTLs at random between one and two hours, unrelated to the order of writing.
    const random = seededRandom(9);
    const ttls = Array.from({ length: 5000 }, () => HOUR + Math.floor(random() * HOUR));
    const fill = await fillToLimit(c, 'k', (i) => ttls[i] as number);
    const present = [...(await existing(c, fill.stored))];
    const ttlOf = (k: string) => ttls[Number(k.slice(2))] as number;
    const median = present.map(ttlOf).sort((a, b) => a - b)[Math.floor(present.length / 2)] as number;
    // New keys expire later than all of them, so the evictions come from these.
    const before = await evictedKeys(c);
    const target = Math.floor(present.length / 4);
    await writeUntil(c, (i) => ['SET', `new:${i}`, VALUE, 'PX', String(3 * HOUR)], async () => (await evictedKeys(c)) - before >= target);
    const kept = await existing(c, present);
    const gone = present.filter((k) => !kept.has(k));
    expect(gone.length).toBeGreaterThanOrEqual(target);
    // A random choice would take half from below the median: 90% is more than 10 sd above that.
    expect(gone.filter((k) => ttlOf(k) < median).length).toBeGreaterThanOrEqual(0.9 * gone.length);
  });

  it('allkeys-random evicts roughly uniformly, whatever the order keys were written in', async () => {
    await fx.start({ logOps: false, memory: limit('allkeys-random') }, { clock: new ManualClock().now });
    const c = await fx.connect();
    const fill = await fillToLimit(c, 'k', () => 0);
    const present = [...(await existing(c, fill.stored))];
    const before = await evictedKeys(c);
    await writeUntil(c, (i) => ['SET', `new:${i}`, VALUE], async () => (await evictedKeys(c)) - before >= present.length);
    const kept = await existing(c, present);
    // The keys there before, in four quarters by the order they were written in.
    const n = present.length;
    const gone = present.map((k, i) => ({ q: Math.floor((4 * i) / n), gone: !kept.has(k) })).filter((x) => x.gone);
    const g = gone.length;
    const byQuarter = [0, 1, 2, 3].map((q) => gone.filter((x) => x.q === q).length);
    // Math.random picks, so this is a margin: taking g of n uniformly, a quarter loses g/4 with the
    // hypergeometric sd below; 6.5 sd either side fails a uniform sampler with a chance under 1e-9.
    const sd = Math.sqrt((g * (3 / 16) * (n - g)) / (n - 1));
    expect(g).toBeGreaterThan(n / 4);
    for (const lost of byQuarter) expect(Math.abs(lost - g / 4), `evictions by quarter: ${byQuarter.join(', ')}`).toBeLessThanOrEqual(6.5 * sd);
  });
});

describe('a restart after evictions', () => {
  it('holds exactly the keys that were not evicted, with their values and expiry times', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'dualkv-evict-'));
    const clock = new ManualClock();
    const overrides = {
      logOps: false,
      dataDir,
      memory: limit('allkeys-random', MiB),
      // A clean stop flushes the log and snapshots whatever the fsync policy, so the fastest one will do.
      persistence: { enabled: true, fsync: 'no' as const, snapshotIntervalSec: 0 },
    };
    const clients: RawClient[] = [];
    try {
      const first = await startTestServer(overrides, { server: { clock: clock.now } });
      let written: string[];
      const before = new Map<string, RespValue[]>();
      try {
        const c = await RawClient.connect(first.tcpPort);
        clients.push(c);
        // Half the keys with a TTL (an hour; the clock stands still), filled to the limit and then as far again.
        const fill = await fillToLimit(c, 'k', (i) => (i % 2 === 0 ? 0 : HOUR + i));
        const more = await writeUntil(c, (i) => ['SET', `more:${i}`, VALUE], never, fill.stored.length);
        written = [...fill.stored, ...more.stored];
        expect(await evictedKeys(c)).toBeGreaterThan(fill.stored.length / 2);
        for (const [k, v] of await valuesAndExpiries(c, [...(await existing(c, written))])) before.set(k, v);
      } finally {
        await first.stop();
      }
      const second = await startTestServer(overrides, { server: { clock: clock.now } });
      try {
        const c = await RawClient.connect(second.tcpPort);
        clients.push(c);
        const after = await existing(c, written);
        expect([...after].sort()).toEqual([...before.keys()].sort());
        const now = await valuesAndExpiries(c, [...before.keys()]);
        for (const [k, [value, expiry]] of before) {
          const [v, e] = now.get(k) as RespValue[];
          expect(v, k).toBe(value);
          expect(e, `${k}'s expiry`).toBe(expiry);
        }
        expect([...before.values()].filter(([, e]) => typeof e === 'number' && e > 0).length, 'keys with an expiry survived').toBeGreaterThan(0);
      } finally {
        await second.stop();
      }
    } finally {
      for (const c of clients) c.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
