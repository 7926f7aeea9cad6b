import { describe, expect, it } from 'vitest';
import { checkRegisterHistory, describeFailure, type RegisterOp } from '../helpers/linearizability.js';
import { serverFixture } from '../helpers/server.js';
import { runOnHotKeys } from './register-clients.js';

type CasOp = Extract<RegisterOp, { kind: 'cas' }>;

describe('compare-and-set from many real connections on hot keys', () => {
  const fx = serverFixture();

  it('has exactly one winner per version and loses no update: 16 connections increment counters on 3 keys by GETVER then CAS', async () => {
    await fx.start({ logOps: false });
    const KEYS = ['counter:a', 'counter:b', 'counter:c'];
    const histories = await runOnHotKeys({
      connect: () => fx.connect(),
      connections: 16,
      keys: KEYS,
      steps: 40,
      // Read the counter and its version, then try to store counter + 1 at that version.
      async step({ key, record }) {
        const read = await record(key, { kind: 'getver' });
        if (read.kind !== 'getver') throw new Error('GETVER answered as another operation');
        await record(key, { kind: 'cas', expected: read.version, value: String(Number(read.value ?? '0') + 1) });
      },
    });

    const c = await fx.connect();
    let conflicts = 0;
    for (const key of KEYS) {
      const history = histories.get(key) ?? [];
      const cas = history.flatMap((h) => (h.op.kind === 'cas' ? [h.op] : []));
      const won = cas.filter((op) => op.applied);
      const lost = cas.filter((op) => !op.applied);
      conflicts += lost.length;

      // One winner per version: no two applied CASes started from the same version or made the same one.
      expect(new Set(won.map((op) => op.expected)).size, `${key}: base versions won twice`).toBe(won.length);
      expect(new Set(won.map((op) => op.version)).size, `${key}: new versions given twice`).toBe(won.length);
      // A loser is told a version other than the one it expected.
      for (const op of lost) expect(op.version, `${key}: a conflict that names the expected version`).not.toBe(op.expected);

      // The winners form one chain from "absent" (0), each from the version the one before made,
      // each storing the count before it plus one: no update lost, none applied twice.
      const byBase = new Map<number, CasOp>(won.map((op) => [op.expected, op]));
      let version = 0;
      for (let n = 1; n <= won.length; n++) {
        const next = byBase.get(version);
        expect(next, `${key}: no winner on version ${version}, after ${n - 1} of ${won.length}`).toBeDefined();
        expect(next?.value, `${key}: the value of the CAS on version ${version}`).toBe(String(n));
        version = (next as CasOp).version;
      }
      const [final] = await c.text(`GETVER ${key}`);
      expect(final, `${key}: the counter ends at the number of applied CASes, with the last one's version`).toBe(
        won.length === 0 ? 'NOT_FOUND' : `VERSIONED ${version} ${won.length}`,
      );

      const result = checkRegisterHistory(history);
      expect(result.ok, describeFailure(history, result)).toBe(true);
    }
    // The connections really raced: some CASes lost, and every key was written.
    expect(conflicts).toBeGreaterThan(0);
    for (const key of KEYS) expect(histories.get(key)?.some((h) => h.op.kind === 'cas' && h.op.applied), key).toBe(true);
  });
});
