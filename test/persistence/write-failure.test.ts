/**
 * A data directory that stops taking writes. The tests run as root, and chmod does not
 * stop root, so the failures here come from the kernel for real:
 *
 * - RLIMIT_FSIZE, set on the running server with prlimit(1): a write past the limit is
 *   cut short and the next one fails with EFBIG (Node ignores SIGXFSZ, so the process
 *   lives on). Needs no privilege, so it runs everywhere prlimit exists.
 * - A small tmpfs mounted as the data directory and filled to capacity: a true "disk
 *   full" (ENOSPC). Needs CAP_SYS_ADMIN: skipped where mount is not allowed, except
 *   under CI (see canMountTmpfs). A read-only tmpfs is how root meets a data directory
 *   it cannot write (chmod does not stop root).
 *
 * Fault injection in-process (test/persistence/append-log.test.ts) covers the same
 * paths deterministically; these check that the real thing behaves as promised.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, openSync, closeSync, statSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { segmentPath } from '../../src/persistence/files.js';
import { havePeer } from '../helpers/peers.js';
import { canMountTmpfs, connect, infoField, mountTmpfs, processFixture, ready, spawnExpectingFailure, type ServerProcess } from './helpers.js';

/** prlimit(1) comes with util-linux; under CI its absence fails the run (havePeer). */
const hasPrlimit = () => havePeer('prlimit', 'util-linux');

const isRoot = process.getuid?.() === 0;

/** Sends SETs one at a time until one is refused; returns the keys acknowledged and the first errors. */
async function writeUntilRefused(r: Redis, prefix: string, max = 2000, valueSize = 200): Promise<{ acked: string[]; errors: string[] }> {
  const acked: string[] = [];
  const errors: string[] = [];
  for (let i = 0; i < max && errors.length < 2; i++) {
    const key = `${prefix}${i}`;
    try {
      await r.set(key, 'x'.repeat(valueSize));
      acked.push(key);
    } catch (err) {
      errors.push((err as Error).message);
    }
  }
  return { acked, errors };
}

describe('when the data directory stops taking writes', () => {
  const fx = processFixture((d) => spawnSync('umount', [path.join(d, 'data')]));
  let server: ServerProcess;

  it.runIf(hasPrlimit())('refuses writes with MISCONF, keeps serving reads, shows it in INFO, and acknowledged nothing that is not on disk (EFBIG via prlimit)', async () => {
    const data = path.join(fx.dir, 'data');
    server = await fx.spawn(data, ['--fsync', 'always', '--snapshot-interval', '0'], path.join(fx.dir, 'logs'));
    const r = await ready(connect(server.tcpPort));
    fx.clients.push(r);
    for (let i = 0; i < 200; i++) await r.set(`before${i}`, `v${i}`.padEnd(1000, '.'));
    const size = statSync(segmentPath(data, 1)).size;
    // The limit holds for every file the process writes, its own log file too; that one
    // stays far smaller (--no-log-ops), so only the append-only log hits the limit.
    // Soft limit only ("N:"), a little past the current end of the log.
    execFileSync('prlimit', ['--pid', String(server.pid), `--fsize=${size + 1000}:`]);

    const { acked, errors } = await writeUntilRefused(r, 'during');
    expect(errors[0]).toMatch(/^MISCONF write not acknowledged: the append-only log .*log-000000000001\.kvlog could not be written \(EFBIG/);
    expect(errors[1]).toMatch(/^MISCONF writes are refused: .*EFBIG.*Reads still work/);
    expect(await r.get('before3')).toBe('v3'.padEnd(1000, '.'));
    expect(await infoField(r, 'aof_last_write_status')).toBe('err');
    expect(await infoField(r, 'last_error')).toMatch(/EFBIG/);
    const failedLine = await server.waitFor('append-only log write failed; refusing writes until it can be written again');
    expect(failedLine.level).toBe('error');

    // kill -9 while refusing: every acknowledged write is on disk; the half-written record is a torn tail.
    await server.kill('SIGKILL');
    server = await fx.spawn(data, ['--fsync', 'always'], path.join(fx.dir, 'logs'));
    const torn = await server.waitFor('data loaded');
    expect(torn.keys).toBeGreaterThanOrEqual(200 + acked.length);
    const again = await ready(connect(server.tcpPort));
    fx.clients.push(again);
    for (const k of [...acked, 'before0', 'before199']) expect(await again.exists(k), k).toBe(1);
  });

  it.runIf(canMountTmpfs())('on a full disk (ENOSPC on a tmpfs): refuses writes, then accepts them again by itself once space is freed', async () => {
    const data = path.join(fx.dir, 'data');
    mkdirSync(data);
    mountTmpfs(data, 'size=1m');
    // Log files outside the small filesystem, so that only the append-only log meets the full disk.
    server = await fx.spawn(data, ['--fsync', 'always', '--snapshot-interval', '0'], path.join(fx.dir, 'logs'));
    const r = await ready(connect(server.tcpPort));
    fx.clients.push(r);
    await r.set('before', '1');
    // Fill the filesystem to the last byte.
    const filler = path.join(data, 'filler');
    const fd = openSync(filler, 'w');
    const chunk = Buffer.alloc(64 * 1024, 1);
    try {
      for (let i = 0; i < 100; i++) writeSync(fd, chunk);
    } catch (err) {
      expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
    }
    try {
      for (let i = 0; i < 100; i++) writeSync(fd, chunk, 0, 1);
    } catch {
      // Full to the byte.
    }
    closeSync(fd);

    const { acked, errors } = await writeUntilRefused(r, 'during');
    expect(errors[0]).toMatch(/^MISCONF .*could not be written \(ENOSPC/);
    expect(await r.get('before')).toBe('1');
    expect(await infoField(r, 'aof_last_write_status')).toBe('err');

    const recovered = server.waitFor('append-only log writes recovered; accepting writes again');
    unlinkSync(filler);
    await recovered;
    expect(await r.set('after', '2')).toBe('OK');
    expect(await infoField(r, 'aof_last_write_status')).toBe('ok');

    expect((await server.kill('SIGTERM')).code).toBe(0);
    server = await fx.spawn(data, ['--fsync', 'always'], path.join(fx.dir, 'logs'));
    const again = await ready(connect(server.tcpPort));
    fx.clients.push(again);
    for (const k of ['before', 'after', ...acked]) expect(await again.exists(k), k).toBe(1);
  });
  for (const policy of ['everysec', 'always'] as const) {
    const code = policy === 'always' ? 4 : 3;
    it.runIf(canMountTmpfs())(`--fsync ${policy}: writes that fill the data volume are refused with MISCONF, and SIGTERM exits ${code} with the count`, async () => {
      const data = path.join(fx.dir, 'data');
      mkdirSync(data);
      mountTmpfs(data, 'size=1m');
      server = await fx.spawn(data, ['--fsync', policy, '--snapshot-interval', '0'], path.join(fx.dir, 'logs'));
      const r = await ready(connect(server.tcpPort));
      fx.clients.push(r);
      // 1 KiB values: about a thousand fill the megabyte. Bounded in count, whatever happens.
      const { acked, errors } = await writeUntilRefused(r, 'fill', 5000, 1024);
      expect(errors[0]).toMatch(/^MISCONF .*could not be written \(ENOSPC/);
      expect(acked.length).toBeGreaterThan(100);
      expect(await infoField(r, 'aof_last_write_status')).toBe('err');
      expect(Number(await infoField(r, 'aof_write_errors'))).toBeGreaterThan(0);

      const exit = await server.kill('SIGTERM');
      expect(exit.code, exit.stderr).toBe(code);
      expect(server.lines.find((l) => l.msg === 'stopping')).toBeDefined();
      expect(server.lines.find((l) => l.msg === 'stopped')).toMatchObject({ exitCode: code });
      let notOnDisk: number;
      if (policy === 'always') {
        // Nothing was acknowledged before it was durable: only the snapshot is missing.
        const line = server.lines.find((l) => l.msg === 'shutdown: no final snapshot, but the log holds every acknowledged write');
        expect(line).toMatchObject({ level: 'error', writesNotOnDisk: 0 });
        notOnDisk = 0;
      } else {
        // Acknowledged when applied; the batch the disk refused is not on it.
        const line = server.lines.find((l) => l.msg === 'shutdown: acknowledged writes are not on disk');
        expect(line?.level).toBe('error');
        notOnDisk = line?.writesNotOnDisk as number;
        expect(notOnDisk).toBeGreaterThan(0);
        expect(exit.stderr).toContain(`${notOnDisk} acknowledged writes are not on disk`);
      }

      // Room for the restart's LOCK; the count must have been honest.
      execFileSync('mount', ['-o', 'remount,size=4m', data]);
      server = await fx.spawn(data, ['--fsync', policy], path.join(fx.dir, 'logs'));
      const again = await ready(connect(server.tcpPort));
      fx.clients.push(again);
      const found = await again.pipeline(acked.map((k) => ['exists', k])).exec();
      const missing = acked.filter((_, i) => found?.[i]?.[1] !== 1);
      expect(missing.length).toBeLessThanOrEqual(notOnDisk);
    }, 60_000);
  }

  it.runIf(!isRoot || canMountTmpfs())('a data directory that cannot be written stops the start with exit 2, as any bad setting does', async () => {
    const data = path.join(fx.dir, 'data');
    mkdirSync(data);
    if (isRoot) mountTmpfs(data, 'ro,size=64k');
    else chmodSync(data, 0o555);
    const { code, stderr } = await spawnExpectingFailure(data, [], path.join(fx.dir, 'logs'));
    expect(code).toBe(2);
    expect(stderr).toContain(`data directory ${data} cannot be used`);
  });
});
