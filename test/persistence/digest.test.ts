import { rmSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect, randomBytes, ready, requireFreshBuild, rng, spawnServer, tempDir, type ServerProcess } from './helpers.js';
import { digestOf, digestOfMap } from './model.js';

const KEYS = 100_000;

describe('a clean restart (SIGTERM)', () => {
  let dir: string;
  let server: ServerProcess | null = null;
  let redis: Redis | null = null;

  beforeAll(() => requireFreshBuild());
  afterEach(async () => {
    redis?.disconnect();
    await server?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps every key and value: the digest over 100k keys with binary values is identical before and after', async () => {
    dir = tempDir();
    const rand = rng(7);
    const keys: Buffer[] = [];
    const model = new Map<string, Buffer>();
    server = await spawnServer(dir); // the defaults: --fsync everysec, snapshot timer on
    redis = await ready(connect(server.tcpPort));
    for (let i = 0; i < KEYS; i += 2000) {
      const p = redis.pipeline();
      for (let j = i; j < i + 2000; j++) {
        // Binary keys and values: every byte value, CR/LF and NUL included; some values empty.
        const k = Buffer.concat([Buffer.from(`k${j}:`), randomBytes(rand, Math.floor(rand() * 8))]);
        const v = randomBytes(rand, j % 50 === 0 ? 0 : Math.floor(rand() * 120));
        keys.push(k);
        model.set(k.toString('latin1'), v);
        p.set(k, v);
      }
      for (const [err] of (await p.exec()) ?? []) expect(err).toBeNull();
    }
    // Overwrites and deletes, so the log holds more than one record per key.
    const p = redis.pipeline();
    for (let j = 0; j < 10_000; j++) {
      const k = keys[Math.floor(rand() * keys.length)] as Buffer;
      if (j % 3 === 0) {
        p.del(k);
        model.delete(k.toString('latin1'));
      } else {
        const v = randomBytes(rand, 30);
        p.set(k, v);
        model.set(k.toString('latin1'), v);
      }
    }
    for (const [err] of (await p.exec()) ?? []) expect(err).toBeNull();

    const before = await digestOf(redis, keys);
    expect(before.digest).toBe(digestOfMap(keys, model));
    expect(before.dbsize).toBe(model.size);
    redis.disconnect();
    const stopped = await server.kill('SIGTERM');
    expect(stopped.code).toBe(0);

    server = await spawnServer(dir);
    const loaded = await server.waitFor('data loaded');
    expect(loaded.keys).toBe(model.size);
    expect(loaded.logRecords).toBe(0); // the final snapshot at shutdown holds everything
    redis = await ready(connect(server.tcpPort));
    const after = await digestOf(redis, keys);
    expect(after).toEqual(before);
  }, 120_000);
});
