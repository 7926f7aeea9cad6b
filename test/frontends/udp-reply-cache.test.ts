import { describe, expect, it } from 'vitest';
import { ENTRY_OVERHEAD_BYTES, ReplyCache, refusedOnEveryRun } from '../../src/frontends/udp/reply-cache.js';
import { KvError, type ErrorCode } from '../../src/errors.js';
import { errorReply, NIL, OK, type Reply } from '../../src/protocol/reply.js';

/** A cache on a clock the test moves by hand. */
function cache(opts: { ttlMs?: number; maxEntries?: number; maxBytes?: number } = {}) {
  const clock = { now: 1_000 };
  const c = new ReplyCache({ ttlMs: opts.ttlMs ?? 1000, maxEntries: opts.maxEntries ?? 100, maxBytes: opts.maxBytes ?? 1 << 20, now: () => clock.now });
  return { c, clock };
}

/** Reserves and completes, as a write that waited for the log does. */
function store(c: ReplyCache, key: string, reply = Buffer.from('reply'), fingerprint = 1, source = '10.0.0.1') {
  const e = c.reserve(key, fingerprint, source);
  c.complete(e, reply);
  return e;
}

describe('UDP reply cache', () => {
  it('keys entries by address, port and request ID', () => {
    expect(ReplyCache.key('127.0.0.1', 5000, 7)).not.toBe(ReplyCache.key('127.0.0.1', 50007, 0));
    expect(ReplyCache.key('::1', 5000, 7)).toBe('::1/5000/7');
  });

  it('holds a reply for the whole window, and forgets it after', () => {
    const { c, clock } = cache({ ttlMs: 1000 });
    store(c, 'a', Buffer.from('first'));
    clock.now += 999;
    expect(c.get('a')?.reply?.toString()).toBe('first');
    clock.now += 1;
    expect(c.get('a')).toBeUndefined();
    expect(c.expirations).toBe(1);
    expect(c.evictions).toBe(0);
    expect(c.size).toBe(0);
  });

  it('shows a reserved entry as pending (reply null) until its reply is stored', () => {
    const { c } = cache();
    const e = c.reserve('a', 42, 's');
    expect(c.get('a')).toMatchObject({ fingerprint: 42, reply: null });
    c.complete(e, Buffer.from('done'));
    expect(c.get('a')?.reply?.toString()).toBe('done');
  });

  it('evicts the least recently used entry past the entry limit, counting it as an eviction', () => {
    const { c } = cache({ maxEntries: 3 });
    store(c, 'a');
    store(c, 'b');
    store(c, 'c');
    expect(c.get('a')).toBeDefined(); // a is now the most recently used
    store(c, 'd');
    expect(c.get('b')).toBeUndefined();
    expect(c.get('a')).toBeDefined();
    expect(c.size).toBe(3);
    expect(c.evictions).toBe(1);
  });

  it('evicts past the byte limit, charging the reply, the key and a per-entry overhead', () => {
    const reply = Buffer.alloc(100);
    const per = reply.length + 1 + ENTRY_OVERHEAD_BYTES;
    const { c } = cache({ maxBytes: per * 2 });
    store(c, 'a', reply);
    store(c, 'b', reply);
    expect(c.bytes).toBe(per * 2);
    store(c, 'c', reply);
    expect(c.bytes).toBe(per * 2);
    expect([c.get('a'), c.get('b') !== undefined, c.get('c') !== undefined]).toEqual([undefined, true, true]);
    expect(c.evictions).toBe(1);
  });

  it('never evicts the entry just added, even when it alone is over the byte limit', () => {
    const { c } = cache({ maxBytes: 50 });
    store(c, 'a', Buffer.alloc(500));
    expect(c.get('a')?.reply?.length).toBe(500);
  });

  it('does not store the reply of an entry evicted while it was pending', () => {
    const { c } = cache({ maxEntries: 1 });
    const first = c.reserve('a', 1, '10.0.0.1');
    store(c, 'b');
    c.complete(first, Buffer.from('late'));
    expect(c.get('a')).toBeUndefined();
    expect(c.size).toBe(1);
  });

  it('counts entries dropped after their window as expirations, not evictions, and sweeps them', () => {
    const { c, clock } = cache({ ttlMs: 100, maxEntries: 10 });
    for (let i = 0; i < 5; i++) store(c, `k${i}`);
    clock.now += 100;
    expect(c.sweep()).toBe(5);
    expect(c.size).toBe(0);
    expect(c.bytes).toBe(0);
    expect(c.expirations).toBe(5);
    expect(c.evictions).toBe(0);
  });

  it('stays within its limits under steady churn, keeping exactly the most recent entries', () => {
    const { c } = cache({ maxEntries: 1000, ttlMs: 60_000 });
    for (let i = 0; i < 200_000; i++) store(c, `client/1/${i}`);
    expect(c.size).toBe(1000);
    expect(c.evictions).toBe(199_000);
    expect(c.get('client/1/198999')).toBeUndefined();
    expect(c.get('client/1/199000')).toBeDefined();
    expect(c.get('client/1/199999')).toBeDefined();
  });

  it('stores a finished reply in one step, the same as reserve and complete', () => {
    const { c } = cache();
    c.store('a', 7, 's', Buffer.from('done'));
    expect(c.get('a')).toMatchObject({ fingerprint: 7 });
    expect(c.get('a')?.reply?.toString()).toBe('done');
    expect(c.bytes).toBe(1 + ENTRY_OVERHEAD_BYTES + 4);
  });

  it('discards a reserved entry without counting an eviction or an expiry, and ignores its late completion', () => {
    const { c } = cache();
    const e = c.reserve('a', 1, 's');
    c.discard(e);
    c.complete(e, Buffer.from('late'));
    expect(c.get('a')).toBeUndefined();
    expect([c.size, c.bytes, c.sourceCount, c.evictions, c.expirations]).toEqual([0, 0, 0, 0, 0]);
  });

  describe('fairness between sources', () => {
    it('evicts a flooding source\'s own entries, never another source\'s', () => {
      const { c } = cache({ maxEntries: 10 });
      store(c, 'b/1', undefined, 1, 'b');
      for (let i = 0; i < 10_000; i++) store(c, `a/${i}`, undefined, 1, 'a');
      expect(c.get('b/1')).toBeDefined();
      expect(c.size).toBe(10);
      expect(c.evictions).toBe(10_000 - 9);
      expect(c.evictionsOwnSource).toBe(c.evictions);
      expect(c.evictionsOtherSource).toBe(0);
      // The flooder keeps its most recent entries, all the room b leaves it.
      expect(c.get('a/9999')).toBeDefined();
      expect(c.get('a/9991')).toBeDefined();
      expect(c.get('a/9990')).toBeUndefined();
    });

    it('lets a source with no competition use the whole cache', () => {
      const { c } = cache({ maxEntries: 100 });
      for (let i = 0; i < 100; i++) store(c, `a/${i}`, undefined, 1, 'a');
      expect([c.size, c.evictions]).toEqual([100, 0]);
      store(c, 'a/100', undefined, 1, 'a');
      expect(c.get('a/0')).toBeUndefined();
      expect([c.size, c.evictions]).toEqual([100, 1]);
    });

    it('takes room from the heaviest source when a light one arrives, counting it as another source\'s eviction', () => {
      const { c } = cache({ maxEntries: 4 });
      for (let i = 0; i < 3; i++) store(c, `a/${i}`, undefined, 1, 'a');
      store(c, 'b/0', undefined, 1, 'b');
      store(c, 'b/1', undefined, 1, 'b'); // over: a (3 entries) is the heaviest
      expect(c.get('a/0')).toBeUndefined();
      expect(c.evictionsOtherSource).toBe(1);
      store(c, 'b/2', undefined, 1, 'b'); // over: b, now holding 3, gives its oldest
      expect([c.get('b/0'), c.get('a/1') !== undefined, c.get('b/2') !== undefined]).toEqual([undefined, true, true]);
      expect(c.evictionsOwnSource).toBe(1);
      store(c, 'c/0', undefined, 1, 'c');
      expect(c.get('c/0')).toBeDefined();
      expect(c.size).toBe(4);
    });

    it('weighs a source by its larger share of the two limits, so a few large replies count as much as many small ones', () => {
      const per = (n: number) => 3 + ENTRY_OVERHEAD_BYTES + n;
      const { c } = cache({ maxEntries: 100, maxBytes: per(1000) * 3 + per(10) * 10 });
      for (let i = 0; i < 3; i++) store(c, `a/${i}`, Buffer.alloc(1000), 1, 'a'); // few entries, most of the bytes
      for (let i = 0; i < 10; i++) store(c, `b/${i}`, Buffer.alloc(10), 1, 'b'); // more entries, few bytes
      store(c, 'b/x', Buffer.alloc(10), 1, 'b'); // over the byte limit: a holds the larger share
      expect(c.get('a/0')).toBeUndefined();
      for (let i = 0; i < 10; i++) expect(c.get(`b/${i}`)).toBeDefined();
    });

    it('evicts within a source the least recently used entry first', () => {
      const { c } = cache({ maxEntries: 3 });
      store(c, 'a/0', undefined, 1, 'a');
      store(c, 'a/1', undefined, 1, 'a');
      store(c, 'a/2', undefined, 1, 'a');
      c.get('a/0');
      store(c, 'a/3', undefined, 1, 'a');
      expect(c.get('a/1')).toBeUndefined();
      expect(c.get('a/0')).toBeDefined();
    });

    it('never evicts the entry being completed, even when its source is the heaviest', () => {
      const { c } = cache({ maxEntries: 10, maxBytes: 2 * (3 + ENTRY_OVERHEAD_BYTES) + 200 });
      const pending = c.reserve('a/0', 1, 'a');
      store(c, 'b/0', undefined, 1, 'b');
      c.complete(pending, Buffer.alloc(400)); // a is now far over its share
      expect(c.get('a/0')?.reply?.length).toBe(400);
      expect(c.get('b/0')).toBeUndefined();
    });

    it('forgets a source once its last entry is gone, and keeps its books exact under churn from many sources', () => {
      const { c, clock } = cache({ maxEntries: 500, ttlMs: 1000 });
      for (let i = 0; i < 50_000; i++) {
        const source = `s${(i * 7919) % 2000}`;
        store(c, `${source}/${i}`, Buffer.alloc(i % 50), 1, source);
        if (i % 5000 === 0) clock.now += 100;
      }
      expect(c.size).toBe(500);
      expect(c.sourceCount).toBeLessThanOrEqual(500);
      clock.now += 10_000;
      c.sweep();
      expect([c.size, c.bytes, c.sourceCount]).toEqual([0, 0, 0]);
      expect(c.evictions + c.expirations).toBe(50_000);
    });
  });
});

// docs/PROTOCOL.md, udp "Reply cache": what is not cached.
describe('which write replies are not cached: refusals every copy of the request would get again', () => {
  const error = (code: ErrorCode): Reply => errorReply(new KvError(code, 'message'));

  it('a key or value over its limit, decided by the request\'s own bytes', () => {
    for (const code of ['KEY_TOO_LARGE', 'VALUE_TOO_LARGE', 'WRONG_ARITY'] as const) {
      expect({ code, skip: refusedOnEveryRun(error(code)) }).toEqual({ code, skip: true });
    }
  });

  it('but not a write that changed nothing for a reason that can pass: a late copy could take effect', () => {
    expect(refusedOnEveryRun({ t: 'deleted', n: 0, of: 1 })).toBe(false); // the key may exist by then
    expect(refusedOnEveryRun(error('OOM'))).toBe(false); // memory may be free by then
    expect(refusedOnEveryRun(error('READ_ONLY'))).toBe(false); // the log may have recovered
  });

  it('nor any reply that says something changed, or may have', () => {
    expect(refusedOnEveryRun(OK)).toBe(false);
    expect(refusedOnEveryRun({ t: 'deleted', n: 1, of: 1 })).toBe(false);
    expect(refusedOnEveryRun(error('SERVER'))).toBe(false);
    expect(refusedOnEveryRun(NIL)).toBe(false);
  });
});
