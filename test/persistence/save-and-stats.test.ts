import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { segmentPath } from '../../src/persistence/files.js';
import { RawClient } from '../helpers/socket.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { connect, infoField, ready, requireFreshBuild, tempDir } from './helpers.js';

describe('SAVE and the persistence section of INFO/STATS', () => {
  let dir: string;
  let srv: TestServer;
  let redis: Redis;

  beforeAll(() => requireFreshBuild());
  beforeEach(async () => {
    dir = tempDir();
    srv = await startTestServer({ dataDir: dir, persistence: { enabled: true, fsync: 'always', snapshotIntervalSec: 0 } });
    redis = await ready(connect(srv.tcpPort));
  });
  afterEach(async () => {
    redis.disconnect();
    await srv.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('shows the Redis fields clients know, the fsync policy and the log size', async () => {
    const info = await redis.info('persistence');
    expect(info).toMatch(/^# Persistence\r\n/);
    for (const field of [
      'loading:0',
      'aof_enabled:1',
      'fsync_policy:always',
      'rdb_bgsave_in_progress:0',
      'aof_last_write_status:ok',
      'data_dir_status:ok',
      'aof_write_errors:0',
      'aof_slow_writes:0',
      'writes_not_on_disk:0',
      'snapshot_failures:0',
      'last_error:',
    ]) {
      expect(info).toContain(`\r\n${field}`);
    }
    const before = Number(await infoField(redis, 'aof_current_size'));
    await redis.set('k', 'v');
    expect(Number(await infoField(redis, 'aof_current_size'))).toBeGreaterThan(before);
    expect(await infoField(redis, 'rdb_changes_since_last_save')).toBe('1');
  });

  it('SAVE (RESP) replies OK once a snapshot holding every earlier write is on disk, and INFO describes it', async () => {
    for (let i = 0; i < 100; i++) await redis.set(`key${i}`, `value${i}`);
    await redis.del('key0');
    expect(await redis.save()).toBe('OK');
    const files = readdirSync(dir);
    const snap = files.find((n) => n.endsWith('.kvsnap'));
    expect(snap).toBeDefined();
    expect(await infoField(redis, 'snapshot_last_keys')).toBe('99');
    expect(Number(await infoField(redis, 'snapshot_last_size'))).toBeGreaterThan(99 * 10);
    expect(Number(await infoField(redis, 'snapshot_last_duration_ms'))).toBeGreaterThanOrEqual(0);
    expect(await infoField(redis, 'rdb_saves')).toBe('1');
    expect(await infoField(redis, 'rdb_last_bgsave_status')).toBe('ok');
    expect(await infoField(redis, 'rdb_changes_since_last_save')).toBe('0');
    expect(await infoField(redis, 'aof_segments')).toBe('1'); // the folded segment is gone
    expect(await redis.bgsave()).toBe('OK'); // BGSAVE is the same command; nothing new, so nothing to write
    expect(existsSync(`${dir}/${snap}`)).toBe(true);
  });

  it('SAVE in the text dialect, and STATS shows the fields on one line', async () => {
    const c = await RawClient.connect(srv.tcpPort);
    try {
      expect(await c.text('PUT greeting hello world', 'SAVE')).toEqual(['OK', 'OK']);
      const [stats] = await c.text('STATS');
      expect(stats).toMatch(/ fsync_policy=always /);
      expect(stats).toMatch(/ snapshot_last_keys=1 /);
      expect(stats).toMatch(/ rdb_bgsave_in_progress=0 /);
    } finally {
      c.close();
    }
  });

  it('SAVEs that arrive during a snapshot share the next one, and each sees its own writes on disk', async () => {
    const second = await ready(connect(srv.tcpPort));
    try {
      await redis.set('a', '1');
      const first = redis.save();
      await second.set('b', '2');
      const [r1, r2, r3] = await Promise.all([first, second.save(), redis.save()]);
      expect([r1, r2, r3]).toEqual(['OK', 'OK', 'OK']);
      expect(Number(await infoField(redis, 'rdb_saves'))).toBeLessThanOrEqual(2);
      expect(await infoField(redis, 'snapshot_last_keys')).toBe('2');
    } finally {
      second.disconnect();
    }
  });

  it('a snapshot that fails (a damaged log segment) answers SAVE with SNAPSHOT_FAILED and shows it in INFO; writes go on', async () => {
    for (let i = 0; i < 10; i++) await redis.set(`key${i}`, `value${i}`);
    const file = segmentPath(dir, 1);
    const bytes = readFileSync(file);
    bytes[bytes.length - 30] = (bytes[bytes.length - 30] as number) ^ 0xff;
    writeFileSync(file, bytes);
    await expect(redis.save()).rejects.toThrow(/^ERR snapshot failed: .*log-000000000001\.kvlog cannot be read at offset \d+/);
    expect(await infoField(redis, 'rdb_last_bgsave_status')).toBe('err');
    expect(await infoField(redis, 'snapshot_failures')).toBe('1');
    expect(await infoField(redis, 'last_error')).toMatch(/snapshot: .*log-000000000001\.kvlog/);
    expect(await redis.set('still', 'writable')).toBe('OK');
    expect(await infoField(redis, 'aof_last_write_status')).toBe('ok');
  });

  it('a restart loads the snapshot plus the log after it', async () => {
    await redis.set('in-snapshot', '1');
    await redis.save();
    await redis.set('in-log', '2');
    redis.disconnect();
    await srv.stop();
    srv = await startTestServer({ dataDir: dir, persistence: { enabled: true, fsync: 'always', snapshotIntervalSec: 0 } });
    redis = await ready(connect(srv.tcpPort));
    expect(await redis.get('in-snapshot')).toBe('1');
    expect(await redis.get('in-log')).toBe('2');
    // stop() wrote a final snapshot, so the log after it is empty.
    const loaded = srv.logs.find('data loaded')[0];
    expect(loaded?.logRecords).toBe(0);
    expect(readdirSync(dir).filter((n) => n.endsWith('.kvsnap'))).toHaveLength(1);
  });
});

describe('SAVE without persistence', () => {
  it('answers NOT_SUPPORTED', async () => {
    const srv = await startTestServer();
    const r = await ready(connect(srv.tcpPort));
    try {
      await expect(r.save()).rejects.toThrow(/persistence is not enabled/);
    } finally {
      r.disconnect();
      await srv.stop();
    }
  });
});
