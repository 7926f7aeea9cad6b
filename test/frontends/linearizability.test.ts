import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkRegisterHistory, describeFailure, UNKNOWN_RESPONSE, type HistoryEntry, type RegisterOp } from '../helpers/linearizability.js';
import { serverFixture } from '../helpers/server.js';
import type { RawClient } from '../helpers/socket.js';
import { runOnHotKeys } from './register-clients.js';

const put = (value: string, invoke: number, response: number): HistoryEntry => ({ op: { kind: 'put', value }, invoke, response });
const get = (value: string | null, invoke: number, response: number): HistoryEntry => ({ op: { kind: 'get', value }, invoke, response });
const del = (existed: boolean, invoke: number, response: number): HistoryEntry => ({ op: { kind: 'del', existed }, invoke, response });
const getver = (value: string | null, version: number, invoke: number, response: number): HistoryEntry => ({
  op: { kind: 'getver', value, version },
  invoke,
  response,
});
/** CAS expecting `expected`: applied (with its new version) or not (with the current one). */
const cas = (expected: number, value: string, applied: boolean, version: number, invoke: number, response: number): HistoryEntry => ({
  op: { kind: 'cas', expected, value, applied, version },
  invoke,
  response,
});

describe('the register linearizability checker', () => {
  const accepted: Array<[string, HistoryEntry[]]> = [
    ['an empty history', []],
    ['a sequential run', [put('a', 0, 1), get('a', 2, 3), del(true, 4, 5), get(null, 6, 7), del(false, 8, 9)]],
    ['a read of nothing while a put is in flight', [put('a', 0, 10), get(null, 1, 2), get('a', 3, 4)]],
    ['a read that sees a put still in flight', [put('a', 0, 10), get('a', 1, 2)]],
    ['two overlapping puts read in either order', [put('a', 0, 5), put('b', 1, 6), get('a', 7, 8)]],
    ['a delete that wins over a concurrent put', [put('a', 0, 1), put('b', 2, 10), del(true, 3, 4), get('b', 11, 12)]],
    ['operations that only touch in time are concurrent', [put('a', 0, 5), get(null, 5, 6)]],
    ['a CAS from absent, then a read of its version', [cas(0, 'a', true, 5, 0, 1), getver('a', 5, 2, 3)]],
    ['a put, its version read, then a CAS on that version', [put('a', 0, 1), getver('a', 7, 2, 3), cas(7, 'b', true, 9, 4, 5), getver('b', 9, 6, 7)]],
    ['two concurrent CASes on one version, one of which wins', [getver(null, 0, 0, 1), cas(0, 'a', true, 3, 2, 10), cas(0, 'b', false, 3, 3, 11)]],
    ['a CAS that loses to a concurrent put and reports its version', [put('a', 0, 10), cas(0, 'b', false, 4, 1, 2), getver('a', 4, 11, 12)]],
    ['a CAS on the version a delete left (0: absent)', [put('a', 0, 1), del(true, 2, 3), cas(0, 'b', true, 8, 4, 5)]],
    ['a put whose reply was lost and that never took effect', [put('a', 0, 1), put('b', 2, UNKNOWN_RESPONSE), get('a', 3, 4), get('a', 5, 6)]],
    ['a put whose reply was lost and that took effect late', [put('a', 0, 1), put('b', 2, UNKNOWN_RESPONSE), get('a', 3, 4), get('b', 50, 51)]],
  ];
  for (const [name, history] of accepted) {
    it(`accepts ${name}`, () => {
      expect(checkRegisterHistory(history).ok).toBe(true);
    });
  }

  const rejected: Array<[string, HistoryEntry[]]> = [
    ['a read of a value never written', [put('a', 0, 1), get('zzz', 2, 3)]],
    ['a stale read after a newer put returned', [put('a', 0, 1), put('b', 2, 3), get('a', 4, 5)]],
    ['a read that goes back to nothing with no delete', [put('a', 0, 10), get('a', 1, 2), get(null, 3, 4)]],
    ['a delete that found a key that was never there', [del(true, 0, 1)]],
    ['two deletes that both found the one put', [put('a', 0, 1), del(true, 2, 5), del(true, 3, 6)]],
    ['a delete that missed a key that was there', [put('a', 0, 1), del(false, 2, 3)]],
    ['a read of a put invoked after the read returned', [get('a', 0, 1), put('a', 2, 3)]],
    ['two concurrent CASes that both won the same version', [cas(0, 'a', true, 3, 0, 5), cas(0, 'b', true, 4, 1, 6)]],
    ['a CAS conflict that reports the very version it expected', [cas(0, 'a', false, 0, 0, 1)]],
    ['a version that goes down', [cas(0, 'a', true, 5, 0, 1), cas(5, 'b', true, 3, 2, 3)]],
    ['a GETVER of an old version after a newer CAS returned', [cas(0, 'a', true, 5, 0, 1), cas(5, 'b', true, 6, 2, 3), getver('a', 5, 4, 5)]],
    ['a CAS applied on a version the key never had', [put('a', 0, 1), getver('a', 5, 2, 3), cas(4, 'b', true, 6, 4, 5)]],
    ['a GETVER that finds a value with version 0', [put('a', 0, 1), getver('a', 0, 2, 3)]],
    ['a put whose reply was lost, read before it was sent', [get('b', 0, 1), put('b', 2, UNKNOWN_RESPONSE)]],
    ['a put whose reply was lost, read, then unread with no other write', [put('a', 0, 1), put('b', 2, UNKNOWN_RESPONSE), get('b', 3, 4), get('a', 5, 6)]],
  ];
  for (const [name, history] of rejected) {
    it(`rejects ${name}`, () => {
      const result = checkRegisterHistory(history);
      expect(result.ok).toBe(false);
      expect(describeFailure(history, result)).toMatch(/^not linearizable/);
    });
  }

  /**
   * A history recorded from a real sequential register with versions (a revision
   * counter that every write and delete moves on), each operation's interval
   * widened at random. A CAS expects the current version, one from before, or 0.
   */
  const sequentialRun = fc
    .array(fc.tuple(fc.constantFrom('put', 'del', 'get', 'getver', 'cas'), fc.constantFrom('current', 'old', 'zero'), fc.nat(20), fc.nat(20)), { maxLength: 40 })
    .map((steps) => {
      let state: string | null = null;
      let version = 0;
      let rev = 0;
      const old: number[] = [0];
      return steps.map(([kind, expect, early, late], i): HistoryEntry => {
        let op: RegisterOp;
        if (kind === 'put') {
          op = { kind, value: `v${i}` };
          state = `v${i}`;
          version = ++rev;
        } else if (kind === 'del') {
          op = { kind, existed: state !== null };
          state = null;
          version = 0;
          rev++;
        } else if (kind === 'getver') op = { kind, value: state, version };
        else if (kind === 'cas') {
          const expected = expect === 'current' ? version : expect === 'zero' ? 0 : (old[i % old.length] as number);
          const applied = expected === version;
          if (applied) {
            state = `v${i}`;
            version = ++rev;
          }
          op = { kind, expected, value: `v${i}`, applied, version };
        } else op = { kind, value: state };
        if (version > 0) old.push(version);
        // The true instant is 10*i; the client saw [10*i - early, 10*i + late].
        return { op, invoke: 10 * i - early, response: 10 * i + late };
      });
    });

  it('accepts every history that a real register produced, however the intervals overlap', () => {
    fc.assert(
      fc.property(sequentialRun, (history) => {
        expect(checkRegisterHistory(history).ok).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('rejects such a history once one read reports a value that was never written', () => {
    fc.assert(
      fc.property(sequentialRun, fc.nat(), (history, pick) => {
        const reads = history.map((h, i) => (h.op.kind === 'get' ? i : -1)).filter((i) => i >= 0);
        fc.pre(reads.length > 0);
        const i = reads[pick % reads.length] as number;
        const broken = history.map((h, j) => (j === i ? { ...h, op: { kind: 'get' as const, value: 'never-written' } } : h));
        expect(checkRegisterHistory(broken).ok).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('rejects such a history once one applied CAS is reported as a conflict on the version it expected', () => {
    fc.assert(
      fc.property(sequentialRun, fc.nat(), (history, pick) => {
        const applied = history.map((h, i) => (h.op.kind === 'cas' && h.op.applied ? i : -1)).filter((i) => i >= 0);
        fc.pre(applied.length > 0);
        const i = applied[pick % applied.length] as number;
        const broken = history.map((h, j) => (j === i && h.op.kind === 'cas' ? { ...h, op: { ...h.op, applied: false, version: h.op.expected } } : h));
        expect(checkRegisterHistory(broken).ok).toBe(false);
      }),
      { numRuns: 300 },
    );
  });
});


/** What one step of a worker does: a single operation, or a GETVER and then a CAS on the version it read. */
type Step = 'put' | 'del' | 'get' | 'getver' | 'read-then-cas';

/** 16 connections, both dialects, 60 steps each on 3 hot keys, values unique across the run; `pick` turns a random number into a step. */
function runHotKeys(connect: () => Promise<RawClient>, pick: (r: number) => Step): Promise<Map<string, HistoryEntry[]>> {
  return runOnHotKeys({
    connect,
    connections: 16,
    keys: ['hot:a', 'hot:b', 'hot:c'],
    steps: 60, // about 320 operations per key
    async step({ key, n, i, random, record }) {
      const value = `c${n}-${i}`;
      const step = pick(random());
      if (step === 'read-then-cas') {
        const read = await record(key, { kind: 'getver' });
        await record(key, { kind: 'cas', expected: read.kind === 'getver' ? read.version : 0, value });
      } else await record(key, step === 'put' ? { kind: 'put', value } : { kind: step });
    },
  });
}

/** The run must have been a real test (concurrent operations, reads that saw writes) and linearizable; and the check can fail at its size. */
function expectLinearizable(key: string, history: HistoryEntry[]): void {
  const overlaps = history.filter((h, i) => history.some((o, j) => j !== i && o.invoke < h.response && h.invoke < o.response));
  expect(overlaps.length, `${key}: concurrent operations`).toBeGreaterThan(history.length / 4);
  expect(history.some((h) => (h.op.kind === 'get' || h.op.kind === 'getver') && h.op.value !== null), `${key}: a read saw a value`).toBe(true);
  expect(history.some((h) => h.op.kind === 'del' && h.op.existed), `${key}: a delete found the key`).toBe(true);

  const result = checkRegisterHistory(history);
  expect(result.ok, describeFailure(history, result)).toBe(true);

  // One read made to report a value nobody wrote.
  const lastRead = history.map((h) => h.op.kind).lastIndexOf('get');
  const broken = history.map((h, i) => (i === lastRead ? { ...h, op: { kind: 'get' as const, value: 'never-written' } } : h));
  expect(checkRegisterHistory(broken).ok, `${key}: a corrupted history`).toBe(false);
}

describe('single-key operations over real connections', () => {
  const fx = serverFixture();

  it('are linearizable: 16 connections, both dialects, PUT/DEL/GET on 3 hot keys with unique values', async () => {
    await fx.start({ logOps: false });
    const histories = await runHotKeys(
      () => fx.connect(),
      (r) => (r < 0.4 ? 'put' : r < 0.6 ? 'del' : 'get'),
    );
    for (const [key, history] of histories) expectLinearizable(key, history);
    expect([...histories.values()].reduce((n, h) => n + h.length, 0)).toBe(16 * 60);
  });

  it('are linearizable with GETVER and read-version-then-CAS among the PUT/DEL/GET, CAS checked as a write conditional on the version', async () => {
    await fx.start({ logOps: false });
    const histories = await runHotKeys(
      () => fx.connect(),
      (r) => (r < 0.2 ? 'put' : r < 0.3 ? 'del' : r < 0.45 ? 'get' : r < 0.55 ? 'getver' : 'read-then-cas'),
    );
    for (const [key, history] of histories) {
      expectLinearizable(key, history);
      const casOps = history.flatMap((h) => (h.op.kind === 'cas' ? [h.op] : []));
      expect(casOps.some((op) => op.applied), `${key}: a CAS applied`).toBe(true);
      expect(casOps.some((op) => !op.applied), `${key}: a CAS lost`).toBe(true);
      // And the check fails at this size once an applied CAS is reported as a conflict on the version it expected.
      const lastApplied = history.map((h) => h.op.kind === 'cas' && h.op.applied).lastIndexOf(true);
      const broken = history.map((h, i) => (i === lastApplied && h.op.kind === 'cas' ? { ...h, op: { ...h.op, applied: false, version: h.op.expected } } : h));
      expect(checkRegisterHistory(broken).ok, `${key}: a CAS made a conflict`).toBe(false);
    }
  });
});
