import { describe, expect, it } from 'vitest';
import { KvError } from '../../src/errors.js';
import { type Mutation, Store } from '../../src/store/store.js';

describe('Store', () => {
  it('puts, gets, counts and deletes binary keys and values', () => {
    const store = new Store();
    expect(store.put('k\x00\xff', 'v\r\n').changed).toBe(true);
    expect(store.get('k\x00\xff')).toBe('v\r\n');
    expect(store.has('k\x00\xff')).toBe(true);
    expect(store.size).toBe(1);
    expect(store.delete('k\x00\xff').changed).toBe(true);
    expect(store.get('k\x00\xff')).toBeUndefined();
    expect(store.size).toBe(0);
  });

  it('reports a delete of a missing key as no change, and records nothing for it', () => {
    const store = new Store();
    const recorded: Mutation[] = [];
    store.setSink({ writeBlocker: () => null, record: (m) => void recorded.push(m) });
    expect(store.delete('nope')).toEqual({ changed: false, durable: undefined });
    expect(recorded).toEqual([]);
  });

  it('hands every change to its sink, in order, after applying it', () => {
    const store = new Store();
    const recorded: Array<[Mutation, string | undefined]> = [];
    store.setSink({ writeBlocker: () => null, record: (m) => void recorded.push([m, store.get(m.key)]) });
    store.put('a', '1');
    store.put('a', '2');
    store.delete('a');
    expect(recorded).toEqual([
      [{ kind: 'put', key: 'a', value: '1' }, '1'],
      [{ kind: 'put', key: 'a', value: '2' }, '2'],
      [{ kind: 'del', key: 'a' }, undefined],
    ]);
  });

  it("passes on the sink's promise for a write that must wait for durability", async () => {
    const store = new Store();
    let release = () => {};
    const durable = new Promise<void>((resolve) => (release = resolve));
    store.setSink({ writeBlocker: () => null, record: () => durable });
    const result = store.put('k', 'v');
    expect(result.durable).toBe(durable);
    release();
    await expect(result.durable).resolves.toBeUndefined();
  });

  it("applies recovered mutations without recording them, and reports the sink's write blocker", () => {
    const store = new Store();
    const recorded: Mutation[] = [];
    const blocked = new KvError('READ_ONLY', 'log failed');
    store.setSink({ writeBlocker: () => blocked, record: (m) => void recorded.push(m) });
    store.apply({ kind: 'put', key: 'a', value: '1' });
    store.apply({ kind: 'put', key: 'b', value: '2' });
    store.apply({ kind: 'del', key: 'a' });
    expect([...store.entries()]).toEqual([['b', '2']]);
    expect(recorded).toEqual([]);
    expect(store.writeBlocker()).toBe(blocked);
    store.clear();
    expect(store.size).toBe(0);
  });
});
