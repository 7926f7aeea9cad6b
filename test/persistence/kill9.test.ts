import { readdirSync, watch } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { connect, processFixture, randomBytes, ready, rng, type ServerProcess } from './helpers.js';
import { DurabilityModel, digestOf, digestOfMap } from './model.js';

const ROUNDS = 4;
const CONNECTIONS = 6;
const DEPTH = 4; // ops in flight per connection, always on distinct keys
const MAX_OPS_PER_ROUND = 20_000;

describe('kill -9 with --fsync always', () => {
  const fx = processFixture();
  let server: ServerProcess;

  it('under concurrent write load, at several random moments: every acknowledged write is there after the restart', async () => {
    const seed = Number(process.env.KV_TEST_SEED ?? Date.now() % 1_000_000);
    const rand = rng(seed);
    const model = new DurabilityModel();
    const context = `seed ${seed} (set KV_TEST_SEED to repeat)`;
    for (let round = 0; round < ROUNDS; round++) {
      // Odd rounds run the snapshot timer too, so some kills land during or around a snapshot.
      server = await fx.spawn(fx.dir, ['--fsync', 'always', '--snapshot-interval', round % 2 ? '1' : '0']);
      const check = await ready(connect(server.tcpPort));
      fx.clients.push(check);
      expect(await model.verify(check), `round ${round} start, ${context}`).toEqual([]);

      const killAfter = 300 + Math.floor(rand() * 3000); // acknowledged writes before the kill
      let acked = 0;
      let reached!: () => void;
      const killMoment = new Promise<void>((resolve) => (reached = resolve));
      let stop = false;
      const owned: string[][] = Array.from({ length: CONNECTIONS }, () => []);
      for (const k of model.keys.keys()) owned[Number(/^c(\d+):/.exec(k)?.[1] ?? 0) % CONNECTIONS]?.push(k);

      const worker = async (c: number, r: Redis) => {
        const busy = new Set<string>();
        let n = 0;
        const lane = async () => {
          while (!stop && n < MAX_OPS_PER_ROUND) {
            n++;
            const roll = rand();
            const mine = owned[c] as string[];
            let key = `c${c}:r${round}:${n}:${randomBytes(rand, 1 + Math.floor(rand() * 6)).toString('latin1')}`;
            if (roll < 0.3 && mine.length > 0) key = mine[Math.floor(rand() * mine.length)] as string;
            if (busy.has(key)) continue;
            busy.add(key);
            const del = roll < 0.1 && mine.length > 0;
            const value = del ? null : randomBytes(rand, Math.floor(rand() * 300));
            model.sent(key, value);
            try {
              const kb = Buffer.from(key, 'latin1');
              if (value === null) await r.del(kb);
              else expect(await r.set(kb, value)).toBe('OK');
              model.acked(key, value);
              if (!mine.includes(key)) mine.push(key);
              if (++acked === killAfter) reached();
            } catch {
              return; // the server is gone: this op stays in flight in the model
            } finally {
              busy.delete(key);
            }
          }
        };
        await Promise.all(Array.from({ length: DEPTH }, lane));
      };
      const conns = await Promise.all(Array.from({ length: CONNECTIONS }, () => ready(connect((server as ServerProcess).tcpPort))));
      fx.clients.push(...conns);
      const load = Promise.all(conns.map((r, c) => worker(c, r)));
      await Promise.race([killMoment, load]);
      const died = await server.kill('SIGKILL');
      expect(died.signal).toBe('SIGKILL');
      stop = true;
      await load;
      for (const c of fx.clients.splice(0)) c.disconnect();
      expect(acked, context).toBeGreaterThanOrEqual(killAfter);
    }
    server = await fx.spawn(fx.dir, ['--fsync', 'always']);
    const last = await ready(connect(server.tcpPort));
    fx.clients.push(last);
    expect(await model.verify(last), `after the last kill, ${context}`).toEqual([]);
    expect(model.keys.size).toBeGreaterThan(ROUNDS * 300);
  }, 120_000);

  it('while a snapshot is being written: the next start succeeds with all the data', async () => {
    const rand = rng(42);
    const keys: Buffer[] = [];
    const values = new Map<string, Buffer>();
    const load = async (r: Redis, n: number) => {
      for (let i = 0; i < n; i += 1000) {
        const p = r.pipeline();
        for (let j = i; j < Math.min(n, i + 1000); j++) {
          const k = Buffer.from(`key:${keys.length}:`);
          const v = randomBytes(rand, 400);
          keys.push(k);
          values.set(k.toString('latin1'), v);
          p.set(k, v);
        }
        for (const [err] of (await p.exec()) ?? []) expect(err).toBeNull();
      }
    };
    const snapshots = () => readdirSync(fx.dir).filter((n) => n.endsWith('.kvsnap'));
    // Two moments: while the worker reads the old files, and while it writes the .tmp file.
    // The server is frozen (SIGSTOP) at the trigger, so the phase it died in can be checked
    // on disk before the SIGKILL; a trigger that came too late is tried again, a bounded number of times.
    const hit = new Set<string>();
    for (let attempt = 0; attempt < 8 && hit.size < 2; attempt++) {
      const want = hit.has('reading') ? 'writing' : 'reading';
      server = await fx.spawn(fx.dir, ['--fsync', 'always', '--snapshot-interval', '0']);
      const r = await ready(connect(server.tcpPort));
      fx.clients.push(r);
      await load(r, 30_000);
      const before = snapshots();
      const tmpSeen = new Promise<void>((resolve) => {
        const w = watch(fx.dir, (_event, name) => {
          if (name?.endsWith('.tmp')) {
            w.close();
            resolve();
          }
        });
      });
      const save = r.save().then(
        () => 'saved',
        () => 'killed',
      );
      if (want === 'reading') await server.waitFor('snapshot started');
      else await tmpSeen;
      process.kill(server.pid, 'SIGSTOP');
      const names = readdirSync(fx.dir);
      const renamed = snapshots().some((n) => !before.includes(n));
      const phase = renamed ? 'done' : names.some((n) => n.endsWith('.tmp')) ? 'writing' : 'reading';
      await server.kill('SIGKILL');
      if (phase !== 'done') {
        expect(await save).toBe('killed');
        hit.add(phase);
      }
      for (const c of fx.clients.splice(0)) c.disconnect();

      server = await fx.spawn(fx.dir, ['--fsync', 'always', '--snapshot-interval', '0']);
      const again = await ready(connect(server.tcpPort));
      fx.clients.push(again);
      const got = await digestOf(again, keys);
      expect(got.dbsize, phase).toBe(keys.length);
      expect(got.digest, phase).toBe(digestOfMap(keys, values));
      expect(readdirSync(fx.dir).filter((n) => n.endsWith('.tmp')), phase).toEqual([]);
      await server.kill('SIGKILL');
      for (const c of fx.clients.splice(0)) c.disconnect();
    }
    expect([...hit].sort()).toEqual(['reading', 'writing']);
  }, 180_000);
});
