import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { KvError } from '../../src/errors.js';
import { startTestServer } from '../helpers/server.js';
import { requireFreshBuild, spawnExpectingFailure, spawnServer, tempDir } from './helpers.js';

describe('one server per data directory', () => {
  let dir: string;
  beforeAll(() => requireFreshBuild());
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('a second server on the same directory refuses to start, naming the owner and the LOCK file', async () => {
    const first = await spawnServer(dir);
    try {
      const second = await spawnExpectingFailure(dir);
      expect(second.code).toBe(1);
      expect(second.stderr).toContain(`is in use by another kv-server (pid ${first.pid}`);
      expect(second.stderr).toContain(path.join(dir, 'LOCK'));
      // And in-process, with its stable code.
      await expect(startTestServer({ dataDir: dir, persistence: { enabled: true } })).rejects.toMatchObject({ code: 'DATA_DIR_LOCKED' });
    } finally {
      expect((await first.kill('SIGTERM')).code).toBe(0);
    }
    expect(existsSync(path.join(dir, 'LOCK'))).toBe(false); // released at a clean stop
  });

  it('two servers in one process cannot share a directory either', async () => {
    const a = await startTestServer({ dataDir: dir, persistence: { enabled: true } });
    try {
      const err = await startTestServer({ dataDir: dir, persistence: { enabled: true } }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KvError);
      expect((err as KvError).code).toBe('DATA_DIR_LOCKED');
    } finally {
      await a.stop();
    }
  });

  it('a lock left by a killed server does not block a restart (kill -9, then start again)', async () => {
    const first = await spawnServer(dir);
    const killed = await first.kill('SIGKILL');
    expect(killed.signal).toBe('SIGKILL');
    expect(JSON.parse(readFileSync(path.join(dir, 'LOCK'), 'utf8')).pid).toBe(first.pid);
    const again = await spawnServer(dir);
    try {
      const warn = await again.waitFor('took over a stale lock: its server is no longer running');
      expect((warn.previous as { pid: number }).pid).toBe(first.pid);
    } finally {
      await again.kill('SIGTERM');
    }
  });

  it('a lock naming a pid that now belongs to another process (a recycled pid) is stale too', async () => {
    // Our own test runner is alive but started at another time than the lock says.
    const lock = { pid: process.pid === 1 ? 2 : 1, startTime: '1', host: hostname(), since: 'earlier' };
    const dead = spawnSync(process.execPath, ['-e', '']).pid as number;
    for (const owner of [lock, { ...lock, pid: dead, startTime: null }]) {
      writeFileSync(path.join(dir, 'LOCK'), JSON.stringify(owner));
      const srv = await startTestServer({ dataDir: dir, persistence: { enabled: true } });
      expect(srv.logs.find('took over a stale lock: its server is no longer running')[0]?.previous).toMatchObject({ pid: owner.pid });
      await srv.stop();
    }
  });
});
