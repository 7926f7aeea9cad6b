/**
 * What the store must hold after a crash, from what the clients were told. A key's
 * acknowledged state must survive; a write in flight when the server died may or may
 * not have landed, so either outcome is accepted for it.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/** null: absent (deleted, or never acknowledged). */
type State = Buffer | null;

interface KeyHistory {
  acked: State;
  /** Outcomes of ops sent but not acknowledged: any of them may be what the server kept. */
  pending: State[];
}

export class DurabilityModel {
  readonly keys = new Map<string, KeyHistory>();

  private entry(key: string): KeyHistory {
    let e = this.keys.get(key);
    if (!e) {
      e = { acked: null, pending: [] };
      this.keys.set(key, e);
    }
    return e;
  }

  sent(key: string, outcome: State): void {
    this.entry(key).pending.push(outcome);
  }

  acked(key: string, outcome: State): void {
    const e = this.entry(key);
    e.acked = outcome;
    e.pending = [];
  }

  /**
   * Reads every key back and checks it against the model. Returns the problems found
   * (empty when all is well). Afterwards the model holds what was read: that state came
   * from disk, so it is now the acknowledged one.
   */
  async verify(r: Redis): Promise<string[]> {
    const problems: string[] = [];
    const names = [...this.keys.keys()];
    let present = 0;
    for (let i = 0; i < names.length; i += 1000) {
      const chunk = names.slice(i, i + 1000);
      const p = r.pipeline();
      for (const k of chunk) p.getBuffer(Buffer.from(k, 'latin1'));
      const results = (await p.exec()) ?? [];
      chunk.forEach((k, j) => {
        const [err, got] = results[j] ?? [new Error('no reply'), null];
        if (err) {
          problems.push(`GET ${JSON.stringify(k)} failed: ${(err as Error).message}`);
          return;
        }
        const value = (got as Buffer | null) ?? null;
        const e = this.keys.get(k) as KeyHistory;
        const ok = [e.acked, ...e.pending].some((s) => (s === null ? value === null : value !== null && s.equals(value)));
        if (!ok) {
          problems.push(
            `${JSON.stringify(k)}: got ${value === null ? 'nothing' : `${value.length} bytes`}, acknowledged ${e.acked === null ? 'absent' : `${e.acked.length} bytes`} (${e.pending.length} in flight)`,
          );
        }
        if (value !== null) present++;
        e.acked = value;
        e.pending = [];
      });
    }
    const size = await r.dbsize();
    if (size !== present) problems.push(`DBSIZE is ${size} but the model has ${present} keys present`);
    return problems;
  }
}

/** SHA-256 over every key (sorted) and its value as read from the server, plus DBSIZE. */
export async function digestOf(r: Redis, keys: Buffer[]): Promise<{ digest: string; present: number; dbsize: number }> {
  const sorted = [...keys].sort(Buffer.compare);
  const h = createHash('sha256');
  let present = 0;
  for (let i = 0; i < sorted.length; i += 2000) {
    const chunk = sorted.slice(i, i + 2000);
    const p = r.pipeline();
    for (const k of chunk) p.getBuffer(k);
    const results = (await p.exec()) ?? [];
    chunk.forEach((k, j) => {
      const [err, v] = results[j] ?? [new Error('no reply'), null];
      if (err) throw err;
      const value = v as Buffer | null;
      const len = Buffer.alloc(8);
      len.writeUInt32LE(k.length, 0);
      len.writeInt32LE(value === null ? -1 : value.length, 4);
      h.update(len).update(k);
      if (value !== null) {
        h.update(value);
        present++;
      }
    });
  }
  return { digest: h.digest('hex'), present, dbsize: await r.dbsize() };
}

/** The same digest over a local map (what the server should hold). */
export function digestOfMap(keys: Buffer[], map: Map<string, Buffer>): string {
  const sorted = [...keys].sort(Buffer.compare);
  const h = createHash('sha256');
  for (const k of sorted) {
    const value = map.get(k.toString('latin1')) ?? null;
    const len = Buffer.alloc(8);
    len.writeUInt32LE(k.length, 0);
    len.writeInt32LE(value === null ? -1 : value.length, 4);
    h.update(len).update(k);
    if (value !== null) h.update(value);
  }
  return h.digest('hex');
}
