import { describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { connect, processFixture, ready, rng, type ServerProcess } from './helpers.js';

const ROUNDS = 3;
const CONNECTIONS = 4;
/** Keys each transaction writes: all of them, or (after a crash) none. */
const KEYS_PER_TX = 5;
const MAX_TX_PER_CONNECTION = 5_000;

/**
 * Issue 12: kill -9 during a stream of MULTI … EXEC blocks under --fsync always. After
 * the restart every transaction is all there or all absent, and every one whose EXEC
 * was answered is there. A transaction writes its keys with its own number and
 * deletes the marker of the one before on its connection, so a half-applied one shows.
 */
describe('kill -9 during transactions, with --fsync always', () => {
  const fx = processFixture();
  let server: ServerProcess;

  it('every transaction is all there or all absent after the restart, and every acknowledged one is there', async () => {
    const seed = Number(process.env.KV_TEST_SEED ?? Date.now() % 1_000_000);
    const rand = rng(seed);
    const context = `seed ${seed} (set KV_TEST_SEED to repeat)`;
    for (let round = 0; round < ROUNDS; round++) {
      server = await fx.spawn(fx.dir, ['--fsync', 'always']);
      const killAfter = 50 + Math.floor(rand() * 400);
      let acked = 0;
      let reached!: () => void;
      const killMoment = new Promise<void>((resolve) => (reached = resolve));
      let stop = false;
      /** Per connection: the transactions sent, and those whose EXEC was answered. */
      const sent: number[][] = Array.from({ length: CONNECTIONS }, () => []);
      const done: number[][] = Array.from({ length: CONNECTIONS }, () => []);
      const worker = async (c: number, r: Redis) => {
        for (let n = 1; !stop && n <= MAX_TX_PER_CONNECTION; n++) {
          const id = `r${round}c${c}n${n}`;
          const tx = r.multi();
          for (let k = 0; k < KEYS_PER_TX; k++) tx.set(`${id}:k${k}`, id);
          tx.del(`r${round}c${c}n${n - 1}:marker`);
          tx.set(`${id}:marker`, id);
          sent[c]?.push(n);
          try {
            const replies = await tx.exec();
            expect(replies?.map(([e]) => e)).toEqual(Array(KEYS_PER_TX + 2).fill(null));
            done[c]?.push(n);
            if (++acked === killAfter) reached();
          } catch {
            return; // the server is gone: this transaction may or may not have been applied
          }
        }
      };
      const conns = await Promise.all(Array.from({ length: CONNECTIONS }, () => ready(connect(server.tcpPort))));
      fx.clients.push(...conns);
      const load = Promise.all(conns.map((r, c) => worker(c, r)));
      await Promise.race([killMoment, load]);
      expect((await server.kill('SIGKILL')).signal).toBe('SIGKILL');
      stop = true;
      await load;
      for (const cl of fx.clients.splice(0)) cl.disconnect();
      expect(acked, context).toBeGreaterThanOrEqual(killAfter);

      server = await fx.spawn(fx.dir, ['--fsync', 'always']);
      const check = await ready(connect(server.tcpPort));
      fx.clients.push(check);
      for (let c = 0; c < CONNECTIONS; c++) {
        const acknowledged = done[c] as number[];
        for (const n of sent[c] as number[]) {
          const id = `r${round}c${c}n${n}`;
          const keys = Array.from({ length: KEYS_PER_TX }, (_, k) => `${id}:k${k}`);
          const values = await check.mget(...keys);
          const present = values.filter((v) => v === id).length;
          expect([0, keys.length], `${id}: ${present} of ${keys.length} keys present, ${context}`).toContain(present);
          if (acknowledged.includes(n)) expect(present, `${id} was acknowledged, ${context}`).toBe(keys.length);
        }
        // Each transaction deleted the one before's marker in the same unit: exactly the last one applied keeps its marker.
        const applied = [];
        for (const n of sent[c] as number[]) if ((await check.exists(`r${round}c${c}n${n}:k0`)) === 1) applied.push(n);
        const markers = await check.keys(`r${round}c${c}n*:marker`);
        expect(markers, context).toEqual(applied.length === 0 ? [] : [`r${round}c${c}n${applied.at(-1)}:marker`]);
      }
      for (const cl of fx.clients.splice(0)) cl.disconnect();
      await server.kill('SIGTERM');
    }
  });
});
