import fc from 'fast-check';
import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { checkRegisterHistory, describeFailure, type HistoryEntry, type RegisterOp } from '../helpers/linearizability.js';
import { serverFixture } from '../helpers/server.js';
import type { RawClient } from '../helpers/socket.js';
import { multibulk, respReplies } from './resp-reader.js';
import { seededRandom } from '../../clients/lib/chaos-random.js';

const put = (value: string, invoke: number, response: number): HistoryEntry => ({ op: { kind: 'put', value }, invoke, response });
const get = (value: string | null, invoke: number, response: number): HistoryEntry => ({ op: { kind: 'get', value }, invoke, response });
const del = (existed: boolean, invoke: number, response: number): HistoryEntry => ({ op: { kind: 'del', existed }, invoke, response });

describe('the register linearizability checker', () => {
  const accepted: Array<[string, HistoryEntry[]]> = [
    ['an empty history', []],
    ['a sequential run', [put('a', 0, 1), get('a', 2, 3), del(true, 4, 5), get(null, 6, 7), del(false, 8, 9)]],
    ['a read of nothing while a put is in flight', [put('a', 0, 10), get(null, 1, 2), get('a', 3, 4)]],
    ['a read that sees a put still in flight', [put('a', 0, 10), get('a', 1, 2)]],
    ['two overlapping puts read in either order', [put('a', 0, 5), put('b', 1, 6), get('a', 7, 8)]],
    ['a delete that wins over a concurrent put', [put('a', 0, 1), put('b', 2, 10), del(true, 3, 4), get('b', 11, 12)]],
    ['operations that only touch in time are concurrent', [put('a', 0, 5), get(null, 5, 6)]],
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
  ];
  for (const [name, history] of rejected) {
    it(`rejects ${name}`, () => {
      const result = checkRegisterHistory(history);
      expect(result.ok).toBe(false);
      expect(describeFailure(history, result)).toMatch(/^not linearizable/);
    });
  }

  /** A history recorded from a real sequential register, each operation's interval widened at random. */
  const sequentialRun = fc.array(fc.tuple(fc.constantFrom('put', 'del', 'get'), fc.nat(20), fc.nat(20)), { maxLength: 40 }).map((steps) => {
    let state: string | null = null;
    return steps.map(([kind, early, late], i): HistoryEntry => {
      let op: RegisterOp;
      if (kind === 'put') {
        op = { kind, value: `v${i}` };
        state = `v${i}`;
      } else if (kind === 'del') {
        op = { kind, existed: state !== null };
        state = null;
      } else op = { kind, value: state };
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
});


type Kind = RegisterOp['kind'];

/** One connection's way of running an operation and reading back its result. */
type Runner = (kind: Kind, key: string, value: string) => Promise<RegisterOp>;

function textRunner(c: RawClient): Runner {
  return async (kind, key, value) => {
    c.clear();
    if (kind === 'put') {
      const [line] = await c.text(`PUT ${key} ${value}`);
      if (line !== 'OK') throw new Error(`PUT answered ${line}`);
      return { kind, value };
    }
    if (kind === 'del') {
      const [line] = await c.text(`DEL ${key}`);
      if (line !== 'DELETED' && line !== 'NOT_FOUND') throw new Error(`DEL answered ${line}`);
      return { kind, existed: line === 'DELETED' };
    }
    const [line] = await c.text(`GET ${key}`);
    if (line === 'NOT_FOUND') return { kind, value: null };
    if (!line?.startsWith('VALUE ')) throw new Error(`GET answered ${line}`);
    return { kind, value: line.slice('VALUE '.length) };
  };
}

function respRunner(c: RawClient): Runner {
  return async (kind, key, value) => {
    c.clear();
    c.write(kind === 'put' ? multibulk('SET', key, value) : kind === 'del' ? multibulk('DEL', key) : multibulk('GET', key));
    const [reply] = await respReplies(c, 1);
    if (kind === 'put') {
      if (JSON.stringify(reply) !== '{"status":"OK"}') throw new Error(`SET answered ${JSON.stringify(reply)}`);
      return { kind, value };
    }
    if (kind === 'del') {
      if (reply !== 0 && reply !== 1) throw new Error(`DEL answered ${JSON.stringify(reply)}`);
      return { kind, existed: reply === 1 };
    }
    if (reply !== null && typeof reply !== 'string') throw new Error(`GET answered ${JSON.stringify(reply)}`);
    return { kind, value: reply };
  };
}

describe('single-key operations over real connections', () => {
  const fx = serverFixture();

  it('are linearizable: 16 connections, both dialects, PUT/DEL/GET on 3 hot keys with unique values', async () => {
    await fx.start({ logOps: false });
    const CONNECTIONS = 16;
    const OPS_PER_CONNECTION = 60; // about 320 operations per key
    const KEYS = ['hot:a', 'hot:b', 'hot:c'];
    const deadline = performance.now() + 20_000; // bounded in time as well as in count
    const histories = new Map<string, HistoryEntry[]>(KEYS.map((k) => [k, []]));

    const workers = Array.from({ length: CONNECTIONS }, async (_, n) => {
      const c = await fx.connect();
      c.socket.setNoDelay(true);
      const dialect = n % 2 === 0 ? 'text' : 'resp';
      const run = dialect === 'text' ? textRunner(c) : respRunner(c);
      const random = seededRandom(1000 + n);
      for (let i = 0; i < OPS_PER_CONNECTION && performance.now() < deadline; i++) {
        const key = KEYS[Math.floor(random() * KEYS.length)] as string;
        const r = random();
        const kind: Kind = r < 0.4 ? 'put' : r < 0.6 ? 'del' : 'get';
        const value = `c${n}-${i}`; // unique across the whole run
        const invoke = performance.now();
        const op = await run(kind, key, value);
        const response = performance.now();
        histories.get(key)?.push({ op, invoke, response, client: `${dialect}#${n}` });
      }
    });
    await Promise.all(workers);

    let total = 0;
    for (const [key, history] of histories) {
      total += history.length;
      // The run must have been a real test: concurrent operations, and reads that saw writes.
      const overlaps = history.filter((h, i) => history.some((o, j) => j !== i && o.invoke < h.response && h.invoke < o.response));
      expect(overlaps.length, `${key}: concurrent operations`).toBeGreaterThan(history.length / 4);
      expect(history.some((h) => h.op.kind === 'get' && h.op.value !== null), `${key}: a read saw a value`).toBe(true);
      expect(history.some((h) => h.op.kind === 'del' && h.op.existed), `${key}: a delete found the key`).toBe(true);

      const result = checkRegisterHistory(history);
      expect(result.ok, describeFailure(history, result)).toBe(true);

      // And the check can fail at this size: one read made to report a value nobody wrote.
      const lastRead = history.map((h) => h.op.kind).lastIndexOf('get');
      const broken = history.map((h, i) => (i === lastRead ? { ...h, op: { kind: 'get' as const, value: 'never-written' } } : h));
      expect(checkRegisterHistory(broken).ok, `${key}: a corrupted history`).toBe(false);
    }
    expect(total).toBe(CONNECTIONS * OPS_PER_CONNECTION);
  });
});
