import { describe, expect, it } from 'vitest';
import { ENTRY_OVERHEAD_BYTES, ReplyCache } from '../../src/frontends/reply-cache.js';

/** A cache on a clock the test moves by hand. */
function cache(opts: { ttlMs?: number; maxEntries?: number; maxBytes?: number } = {}) {
  const clock = { now: 1_000 };
  const c = new ReplyCache({ ttlMs: opts.ttlMs ?? 1000, maxEntries: opts.maxEntries ?? 100, maxBytes: opts.maxBytes ?? 1 << 20, now: () => clock.now });
  return { c, clock };
}

function store(c: ReplyCache, key: string, reply = Buffer.from('reply'), fingerprint = 1) {
  const e = c.reserve(key, fingerprint);
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
    const e = c.reserve('a', 42);
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
    const first = c.reserve('a', 1);
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
});
