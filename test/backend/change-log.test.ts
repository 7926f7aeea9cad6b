import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { CHANGE_LOG_ENTRIES, ChangeLog, QUIET_KEY_BYTES } from '../../src/backend/memory/change-log.js';

/** The watch facility's history (src/backend/memory/change-log.ts): what it keeps, what it says when it no longer reaches back. */
describe('ChangeLog', () => {
  const all = { match: null, limit: 1000, waitMs: 0 } as const;

  it('answers the changes after a revision, in order, filtered by the query, and the revision to go on from', () => {
    let rev = 0;
    const log = new ChangeLog(() => rev);
    for (const [key, op] of [['a', 'put'], ['b', 'put'], ['a', 'del'], ['c', 'expire']] as const) log.append(key, ++rev, op);
    expect(log.read(0, all)).toEqual({
      events: [
        { key: 'a', version: 1, op: 'put' },
        { key: 'b', version: 2, op: 'put' },
        { key: 'a', version: 3, op: 'del' },
        { key: 'c', version: 4, op: 'expire' },
      ],
      revision: 4,
      compacted: false,
    });
    expect(log.read(2, { ...all, match: (k) => k === 'a' })).toEqual({ events: [{ key: 'a', version: 3, op: 'del' }], revision: 4, compacted: false });
    // A page cut by its limit goes on from its last event, not from the newest revision.
    expect(log.read(0, { ...all, limit: 2 }).revision).toBe(2);
    expect(log.read(4, all)).toEqual({ events: [], revision: 4, compacted: false });
  });

  it('never cuts a revision: a full page takes the rest of its last revision (the keys of an etcd transaction share one)', () => {
    const log = new ChangeLog(() => 3);
    log.append('t1', 2, 'put');
    log.append('t2', 2, 'put');
    log.append('t3', 2, 'put');
    log.append('after', 3, 'put');
    const first = log.read(1, { ...all, limit: 2 });
    expect(first.events.map((e) => e.key)).toEqual(['t1', 't2', 't3']);
    expect(first.revision).toBe(2);
    expect(log.read(first.revision, { ...all, limit: 2 }).events.map((e) => e.key)).toEqual(['after']);
  });

  it('a history that starts after a revision says compacted to a watcher from before it', () => {
    const log = new ChangeLog(() => 10, 10);
    expect(log.read(9, all).compacted).toBe(true);
    expect(log.read(10, all)).toEqual({ events: [], revision: 10, compacted: false });
    log.forgetUpTo(12);
    expect(log.read(11, all).compacted).toBe(true);
  });

  it('a flush reaches every watcher, whatever its prefix', () => {
    let rev = 0;
    const log = new ChangeLog(() => rev);
    log.append('', ++rev, 'flush');
    expect(log.read(0, { ...all, match: (k) => k.startsWith('x') }).events).toEqual([{ key: '', version: 1, op: 'flush' }]);
  });

  it('past its size it drops the oldest, and tells a watcher from before them that it may have missed changes', () => {
    let rev = 0;
    const log = new ChangeLog(() => rev);
    log.read(0, all); // a watcher: the whole history is kept from now on
    for (let i = 0; i < CHANGE_LOG_ENTRIES + 10; i++) log.append(`k${i}`, ++rev, 'put');
    expect(log.read(5, { ...all, limit: 1 }).compacted).toBe(true);
    const fromKept = log.read(10, { ...all, limit: 1 });
    expect(fromKept.compacted).toBe(false);
    expect(fromKept.events).toEqual([{ key: 'k10', version: 11, op: 'put' }]);
  });

  it('keeps only a little while nobody has read it, and all of its size once someone has', () => {
    let rev = 0;
    const log = new ChangeLog(() => rev);
    const key = 'k'.repeat(100);
    const n = Math.ceil((2 * QUIET_KEY_BYTES) / key.length);
    for (let i = 0; i < n; i++) log.append(key, ++rev, 'put');
    // Unwatched: the oldest went, and a watcher from the start is told so.
    expect(log.read(0, { ...all, limit: 1 }).compacted).toBe(true);
    const from = rev;
    for (let i = 0; i < n; i++) log.append(key, ++rev, 'put');
    // Watched since the read above: everything after it is still there.
    const page = log.read(from, { ...all, limit: n + 1 });
    expect(page.compacted).toBe(false);
    expect(page.events).toHaveLength(n);
  });

  it('counts what it holds for --maxmemory: each kept key and its slots, bounded by its budget', () => {
    let rev = 0;
    const log = new ChangeLog(() => rev);
    const rings = log.bytes;
    expect(rings).toBe(0);
    log.append('k'.repeat(1000), ++rev, 'put');
    const one = log.bytes - rings;
    expect(one).toBeGreaterThan(1000);
    log.append('k'.repeat(1000), ++rev, 'put');
    expect(log.bytes - rings).toBe(2 * one);
    for (let i = 0; i < 10_000; i++) log.append('k'.repeat(1000), ++rev, 'put');
    // Unwatched, the keys it keeps stay within the quiet budget however much is written.
    const kept = Math.floor(QUIET_KEY_BYTES / (one - 24));
    expect(log.bytes).toBe(kept * one);
  });

  it('a waiter is woken by the first matching change after it, once, and others stay asleep', async () => {
    let rev = 0;
    const log = new ChangeLog(() => rev);
    const woken: string[] = [];
    const a = (log.wait(0, { match: (k) => k === 'a', limit: 10, waitMs: 60_000 }) as Promise<{ events: Array<{ key: string }> }>).then((p) => woken.push(`a:${p.events.map((e) => e.key).join(',')}`));
    const b = log.wait(0, { match: (k) => k === 'b', limit: 10, waitMs: 50 });
    expect(log.waiting).toBe(2);
    log.append('x', ++rev, 'put');
    log.append('a', ++rev, 'put');
    await a;
    expect(woken).toEqual(['a:a']);
    expect(await b).toEqual({ events: [], revision: 2, compacted: false }); // timed out: nothing for b, but it looked up to 2
    expect(log.waiting).toBe(0);
  });

  it('a waiter whose signal aborts (the client went away) is let go at once', async () => {
    const log = new ChangeLog(() => 0);
    const ac = new AbortController();
    const p = log.wait(0, { match: null, limit: 1, waitMs: 60_000, signal: ac.signal });
    expect(log.waiting).toBe(1);
    ac.abort();
    expect(await p).toEqual({ events: [], revision: 0, compacted: false });
    expect(log.waiting).toBe(0);
  });

  it('waits that end by a change or a timeout leave no listener on their signal (an SSE stream waits on one signal for its whole life)', async () => {
    let rev = 0;
    const log = new ChangeLog(() => rev);
    const ac = new AbortController();
    for (let i = 0; i < 20; i++) {
      const p = log.wait(rev, { match: null, limit: 10, waitMs: 60_000, signal: ac.signal });
      log.append(`k${i}`, ++rev, 'put');
      await p;
    }
    await log.wait(rev, { match: null, limit: 10, waitMs: 1, signal: ac.signal });
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
  });
});
