import { rmSync } from 'node:fs';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { recoverDataDir } from '../../src/persistence/recovery.js';
import { buildSnapshot } from '../../src/persistence/snapshot-build.js';
import { LogCapture } from '../helpers/server.js';
import { del, expire, put, writeSegment, writeSnapshot } from './files.js';
import { tempDirEach } from './helpers.js';
import { TestStore } from './test-store.js';

const T0 = 1_767_225_600_000; // the test's "now": 2026-01-01T00:00:00Z
const SECOND = 1000;

function recover(dir: string, now = T0) {
  const store = new TestStore(now);
  const result = recoverDataDir({ dir, repair: false, store, log: pino({ level: 'debug' }, new LogCapture()) });
  return { result, store };
}

describe('recovery keeps versions and absolute expiry times', () => {
  const tmp = tempDirEach();

  it('loads each key with the version and the expiry its record names', () => {
    writeSnapshot(tmp.dir, 2, [
      { key: 'a', value: 'A', version: 3, expiresAt: 0 },
      { key: 'b', value: 'B', version: 5, expiresAt: T0 + 60 * SECOND },
    ]);
    writeSegment(tmp.dir, 2, [put('c', 'C', 6, T0 + 10 * SECOND), put('a', 'A2', 7)]);
    const { store, result } = recover(tmp.dir);
    expect([...store.entries()].sort((x, y) => x.key.localeCompare(y.key))).toEqual([
      { key: 'a', value: 'A2', version: 7, expiresAt: 0 },
      { key: 'b', value: 'B', version: 5, expiresAt: T0 + 60 * SECOND },
      { key: 'c', value: 'C', version: 6, expiresAt: T0 + 10 * SECOND },
    ]);
    expect(result.revision).toBe(7);
    expect(store.revision).toBe(7);
  });

  it('never extends a TTL: a restart later keeps the absolute time, and a restart after it drops the key', () => {
    writeSegment(tmp.dir, 1, [put('session', 's', 1, T0 + 30 * SECOND)]);
    // Ten seconds later: 20 s are left, not 30.
    expect(recover(tmp.dir, T0 + 10 * SECOND).store.get('session')?.expiresAt).toBe(T0 + 30 * SECOND);
    // As in Redis (and the server's lazy check), the key lives through its expiry millisecond, and is gone the next.
    expect(recover(tmp.dir, T0 + 30 * SECOND).store.get('session')?.expiresAt).toBe(T0 + 30 * SECOND);
    expect(recover(tmp.dir, T0 + 30 * SECOND + 1).store.get('session')).toBeUndefined();
  });

  it('drops snapshot keys already expired (the store decides, by its clock), but counts their revisions', () => {
    writeSnapshot(tmp.dir, 2, [
      { key: 'live', value: 'x', version: 1, expiresAt: T0 + SECOND },
      { key: 'dead', value: 'y', version: 9, expiresAt: T0 - SECOND },
    ]);
    const { store, result } = recover(tmp.dir);
    expect([...store.keys.keys()]).toEqual(['live']);
    expect(result).toMatchObject({ snapshotKeys: 1, expiredAtLoad: 1, revision: 9 });
  });

  it('drops keys the log made expire, and an expired write does not bring back the older value', () => {
    writeSnapshot(tmp.dir, 2, { kept: 'snap', overwritten: 'snap', expired: 'snap', persisted: 'snap' }); // versions 1..4
    writeSegment(tmp.dir, 2, [
      put('overwritten', 'short-lived', 5, T0 - SECOND), // a write whose TTL ran out while the server was down
      expire('expired', T0 - 1, 6),
      expire('persisted', T0 + SECOND, 7),
      expire('persisted', 0, 8), // PERSIST
      put('gone-too', 'x', 9, T0 - 1),
      put('lives-through-its-millisecond', 'y', 10, T0),
    ]);
    const { store } = recover(tmp.dir);
    expect([...store.entries()].sort((x, y) => x.key.localeCompare(y.key))).toEqual([
      { key: 'kept', value: 'snap', version: 1, expiresAt: 0 },
      { key: 'lives-through-its-millisecond', value: 'y', version: 10, expiresAt: T0 },
      { key: 'persisted', value: 'snap', version: 8, expiresAt: 0 },
    ]);
  });

  it('keeps the revision counter when the newest writes were deletes (in the log)', () => {
    writeSegment(tmp.dir, 1, [put('a', '1', 1), put('b', '2', 2), del('a', 3), del('b', 4)]);
    const { store, result } = recover(tmp.dir);
    expect(store.size).toBe(0);
    expect(result.revision).toBe(4);
    expect(store.calls.raiseRevision).toEqual([4]);
  });

  it('keeps the revision counter when the newest writes were deletes folded into a snapshot (its END names it)', () => {
    writeSegment(tmp.dir, 1, [put('a', '1', 1), put('b', '2', 2), del('a', 3), del('b', 4), put('c', '3', 5), del('c', 6)]);
    buildSnapshot({ dir: tmp.dir, base: null, segments: [1], seq: 2, now: T0 });
    rmSync(`${tmp.dir}/log-000000000001.kvlog`);
    const { store, result } = recover(tmp.dir);
    expect(store.size).toBe(0);
    expect(result.revision).toBe(6);
  });

  it('folds a snapshot that holds what recovery of the same files holds, versions and expiry times included', () => {
    writeSnapshot(tmp.dir, 2, [
      { key: 'a', value: 'A', version: 1, expiresAt: 0 },
      { key: 'b', value: 'B', version: 2, expiresAt: T0 + SECOND },
      { key: 'c', value: 'C', version: 3, expiresAt: T0 - SECOND },
    ]);
    writeSegment(tmp.dir, 2, [put('d', 'D', 4, T0 + 2 * SECOND), expire('a', T0 + 3 * SECOND, 5), del('b', 6)]);
    writeSegment(tmp.dir, 3, [put('e', 'E', 7), expire('e', 0, 8), put('f', 'F', 9, T0 - 1)]);
    const direct = recover(tmp.dir);
    const built = buildSnapshot({ dir: tmp.dir, base: 2, segments: [2, 3], seq: 4, now: T0 });
    expect(built.keys).toBe(3); // a, d, e
    rmSync(`${tmp.dir}/snapshot-000000000002.kvsnap`);
    rmSync(`${tmp.dir}/log-000000000002.kvlog`);
    rmSync(`${tmp.dir}/log-000000000003.kvlog`);
    const folded = recover(tmp.dir);
    expect(new Map(folded.store.keys)).toEqual(new Map(direct.store.keys));
    expect(folded.result.revision).toBe(9);
    expect(direct.result.revision).toBe(9);
  });

  it('the snapshot worker leaves out keys that expired by the time it runs', () => {
    writeSegment(tmp.dir, 1, [put('soon', 'x', 1, T0 + SECOND), put('later', 'y', 2, T0 + 60 * SECOND)]);
    const built = buildSnapshot({ dir: tmp.dir, base: null, segments: [1], seq: 2, now: T0 + 2 * SECOND });
    expect(built.keys).toBe(1);
    rmSync(`${tmp.dir}/log-000000000001.kvlog`);
    const { store, result } = recover(tmp.dir, T0);
    expect([...store.keys.keys()]).toEqual(['later']);
    expect(result.revision).toBe(2);
  });
});
