/**
 * SIGTERM while clients are writing flat out. Under load every client socket is paused
 * with input unread, which keeps nothing alive in the event loop: the server used to
 * exit 13 within milliseconds, with no final snapshot, no final fsync and its LOCK left
 * behind. These run the built server as a process, since the exit code is the point.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { havePeer } from '../helpers/peers.js';
import { connect, infoField, processFixture, ready, type ServerProcess } from './helpers.js';

/** Bounds for the load loops: whichever comes first ends them. */
const MAX_OPS_PER_LANE = 50_000;
const LOAD_TIME_LIMIT_MS = 60_000;

describe('SIGTERM under write load', () => {
  const fx = processFixture();
  let server: ServerProcess;
  let bench: ChildProcess | null = null;
  afterEach(async () => {
    if (bench && bench.exitCode === null && bench.signalCode === null) {
      bench.kill('SIGKILL');
      await once(bench, 'exit');
    }
    bench = null;
  });

  const snapshots = (data: string) => readdirSync(data).filter((n) => n.endsWith('.kvsnap'));

  describe.skipIf(!havePeer('redis-benchmark', 'redis-tools'))('with redis-benchmark', () => {
    it('stops with the stopping and stopped lines, a final snapshot, no LOCK, and exit 0', async () => {
      const data = path.join(fx.dir, 'data');
      server = await fx.spawn(data, ['--snapshot-interval', '0'], path.join(fx.dir, 'logs'));
      const args = ['-h', '127.0.0.1', '-p', String(server.tcpPort), '-t', 'set', '-r', '100000', '-n', '5000000', '-c', '20', '-P', '16'];
      bench = spawn('redis-benchmark', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      // redis-benchmark prints its progress a few times a second: a non-zero rate means the load is on.
      let progress = '';
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`redis-benchmark showed no progress: ${progress.slice(-500)}`)), LOAD_TIME_LIMIT_MS);
        bench?.stdout?.setEncoding('utf8').on('data', (d: string) => {
          progress += d;
          if (/rps=[1-9]/.test(progress)) {
            clearTimeout(timer);
            resolve();
          }
        });
        bench?.once('exit', () => reject(new Error(`redis-benchmark exited early: ${progress.slice(-500)}`)));
      });
      const r = await ready(connect(server.tcpPort));
      expect(Number(await infoField(r, 'rdb_changes_since_last_save'))).toBeGreaterThan(0);
      r.disconnect();

      const exit = await server.kill('SIGTERM');
      expect(exit, exit.stderr).toMatchObject({ code: 0, signal: null });
      expect(server.lines.find((l) => l.msg === 'stopping')).toMatchObject({ signal: 'SIGTERM' });
      expect(server.lines.find((l) => l.msg === 'stopped')).toMatchObject({ exitCode: 0, writesNotOnDisk: 0 });
      expect(server.lines.some((l) => l.msg === 'snapshot written' && l.reason === 'shutdown')).toBe(true);
      expect(snapshots(data)).toHaveLength(1);
      expect(existsSync(path.join(data, 'LOCK'))).toBe(false);
    }, 120_000);
  });

  it('with --fsync always and clients writing numbered keys: every acknowledged key is there after a restart', async () => {
    const data = path.join(fx.dir, 'data');
    server = await fx.spawn(data, ['--fsync', 'always', '--snapshot-interval', '0'], path.join(fx.dir, 'logs'));
    const conns = await Promise.all(Array.from({ length: 4 }, () => ready(connect((server as ServerProcess).tcpPort))));
    fx.clients.push(...conns);
    const acked: string[] = [];
    let signalAfter!: () => void;
    const enoughAcked = new Promise<void>((resolve) => (signalAfter = resolve));
    const until = Date.now() + LOAD_TIME_LIMIT_MS;
    // Each connection keeps 8 writes in flight until the server goes away.
    const lane = async (r: Redis, c: number, l: number) => {
      for (let i = 0; i < MAX_OPS_PER_LANE && Date.now() < until; i++) {
        const key = `k:${c}:${l}:${i}`;
        try {
          expect(await r.set(key, `v${i}`)).toBe('OK');
        } catch {
          return; // refused or cut at shutdown: not acknowledged
        }
        acked.push(key);
        if (acked.length === 3000) signalAfter();
      }
    };
    const load = Promise.all(conns.flatMap((r, c) => Array.from({ length: 8 }, (_, l) => lane(r, c, l))));
    await Promise.race([enoughAcked, load]);
    const exit = await server.kill('SIGTERM');
    await load;
    expect(exit, exit.stderr).toMatchObject({ code: 0, signal: null });
    expect(server.lines.find((l) => l.msg === 'stopped')).toMatchObject({ exitCode: 0 });
    expect(acked.length).toBeGreaterThanOrEqual(3000);
    for (const c of fx.clients.splice(0)) c.disconnect();

    server = await fx.spawn(data, ['--fsync', 'always'], path.join(fx.dir, 'logs'));
    const again = await ready(connect(server.tcpPort));
    fx.clients.push(again);
    const missing: string[] = [];
    for (let i = 0; i < acked.length; i += 1000) {
      const batch = acked.slice(i, i + 1000);
      const found = await again.pipeline(batch.map((k) => ['exists', k])).exec();
      batch.forEach((k, j) => {
        if (found?.[j]?.[1] !== 1) missing.push(k);
      });
    }
    expect(missing).toEqual([]);
  }, 120_000);
});
