/**
 * The data directory deleted under a running server (rm -rf while writes run). The open
 * segment keeps taking writes through its descriptor, so no write ever fails: without a
 * check, every write was acknowledged into a file the next start cannot see, SIGTERM
 * exited 0 and the restart came up empty.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { connect, infoField, processFixture, ready, type ServerProcess } from './helpers.js';

const LANES = 4;
const MAX_OPS_PER_LANE = 20_000;
const LOAD_TIME_LIMIT_MS = 30_000;

interface Outcome {
  key: string;
  /** Sent after rm -rf had returned. */
  afterRm: boolean;
  error: string | null;
}

describe('when the data directory is deleted under the server', () => {
  const fx = processFixture();
  let server: ServerProcess;

  for (const policy of ['always', 'everysec'] as const) {
    it(`--fsync ${policy}: writes are refused with MISCONF, INFO and SAVE say so, and SIGTERM exits 3 with the count`, async () => {
      const data = path.join(fx.dir, 'data');
      server = await fx.spawn(data, ['--fsync', policy, '--snapshot-interval', '0'], path.join(fx.dir, 'logs'));
      const r = await ready(connect(server.tcpPort));
      fx.clients.push(r);
      const outcomes: Outcome[] = [];
      let rmDone = false;
      let refused!: () => void;
      const firstRefusal = new Promise<void>((resolve) => (refused = resolve));
      let reachedLoad!: () => void;
      const loadRunning = new Promise<void>((resolve) => (reachedLoad = resolve));
      const until = Date.now() + LOAD_TIME_LIMIT_MS;
      const lane = async (l: number) => {
        for (let i = 0; i < MAX_OPS_PER_LANE && Date.now() < until; i++) {
          const key = `k:${l}:${i}`;
          const afterRm = rmDone; // ioredis writes the command to the socket within set()
          try {
            await r.set(key, `value-${i}`);
            outcomes.push({ key, afterRm, error: null });
            if (outcomes.length === 500) reachedLoad();
          } catch (err) {
            outcomes.push({ key, afterRm, error: (err as Error).message });
            refused();
            return;
          }
        }
      };
      const load = Promise.all(Array.from({ length: LANES }, (_, l) => lane(l)));
      await Promise.race([loadRunning, load]);
      rmSync(data, { recursive: true, force: true });
      rmDone = true;
      await Promise.race([firstRefusal, load]);
      await load;

      const errors = outcomes.filter((o) => o.error !== null);
      expect(errors.length, 'no write was refused').toBeGreaterThan(0);
      // A batch written while rm -rf was halfway may see the segment gone before the directory.
      for (const e of errors) expect(e.error).toMatch(/^MISCONF .*(the data directory|the log segment) .* was deleted while the server was running/);
      await server.waitForLine(
        (l) => l.msg === 'data files deleted under the server; refusing writes until it is restarted' && /data directory/.test(String(l.missing)),
        'the missing data directory',
      );
      const refusal = await r.set('one-more', 'x').then(() => 'OK', (err: Error) => err.message);
      expect(refusal).toMatch(
        new RegExp(`^MISCONF writes are refused: the data directory ${data} was deleted while the server was running, .*Reads still work\\. Before stopping this server, .*/proc/\\d+/fd/\\d+.*restore .* from a backup`),
      );
      if (policy === 'always') {
        // Every batch is checked before its replies leave: nothing sent after the unlink is acknowledged.
        expect(outcomes.filter((o) => o.afterRm && o.error === null)).toEqual([]);
      }
      const acked = outcomes.filter((o) => o.error === null);
      expect(acked.length).toBeGreaterThanOrEqual(500);
      // Reads go on, from memory.
      expect(await r.get(acked[0]?.key as string)).toMatch(/^value-/);
      expect(await infoField(r, 'data_dir_status')).toBe('missing');
      expect(await infoField(r, 'aof_last_write_status')).toBe('err');
      expect(Number(await infoField(r, 'writes_not_on_disk'))).toBeGreaterThanOrEqual(acked.length);
      await expect(r.save()).rejects.toThrow(/^ERR cannot snapshot while the append-only log is failing: the data directory .* was deleted/);

      const exit = await server.kill('SIGTERM');
      expect(exit.code).toBe(3);
      const line = server.lines.find((l) => l.msg === 'shutdown: acknowledged writes are not on disk');
      expect(line?.level).toBe('error');
      expect(line?.writesNotOnDisk).toBeGreaterThanOrEqual(acked.length);
      expect(server.lines.find((l) => l.msg === 'stopped')).toMatchObject({ exitCode: 3 });
      expect(exit.stderr).toMatch(/stopped with errors \(exit 3\): \d+ acknowledged writes are not on disk/);
    }, 60_000);
  }
});
