import { describe, expect, it } from 'vitest';
import { LOG_SNAPSHOT_MIN_BYTES, SNAPSHOT_RETRY_MS, SnapshotHistory, type SnapshotDueFacts } from '../../src/persistence/snapshot-history.js';
import { SnapshotWorkerError } from '../../src/persistence/snapshot-runner.js';

/** When the one-second timer starts a snapshot (README "Persistence", docs/ARCHITECTURE.md), with time as an input. */
describe('SnapshotHistory.due', () => {
  const t0 = 1_000_000;
  const facts = (over: Partial<SnapshotDueFacts> = {}): SnapshotDueFacts => ({
    now: t0,
    intervalMs: 60_000,
    unsaved: true,
    closedSegments: false,
    logBytes: 1000,
    ...over,
  });
  const result = (bytes: number) => ({ seq: 2, file: 'snapshot-2', keys: 10, bytes, ms: 5 });

  it('is due by interval only once the interval has passed since the last attempt and the log holds something unsaved', () => {
    const h = new SnapshotHistory();
    h.attempted(t0);
    expect(h.due(facts({ now: t0 + 59_999 }))).toBeNull();
    expect(h.due(facts({ now: t0 + 60_000 }))).toBe('interval');
    expect(h.due(facts({ now: t0 + 60_000, unsaved: false }))).toBeNull();
    expect(h.due(facts({ now: t0 + 10 * 60_000, intervalMs: 0 }))).toBeNull();
  });

  it('is due by size at 64 MiB of log, or at twice the last snapshot when that is larger, before the interval', () => {
    const h = new SnapshotHistory();
    h.attempted(t0);
    expect(h.due(facts({ logBytes: LOG_SNAPSHOT_MIN_BYTES - 1 }))).toBeNull();
    expect(h.due(facts({ logBytes: LOG_SNAPSHOT_MIN_BYTES }))).toBe('log-size');
    h.succeeded(result(100 * 1024 * 1024));
    expect(h.due(facts({ logBytes: LOG_SNAPSHOT_MIN_BYTES }))).toBeNull();
    expect(h.due(facts({ logBytes: 200 * 1024 * 1024 }))).toBe('log-size');
    expect(h.due(facts({ now: t0 + 60_000, logBytes: 200 * 1024 * 1024 }))).toBe('log-size');
  });

  it('after a failure waits SNAPSHOT_RETRY_MS, then retries while closed segments wait to be folded', () => {
    const h = new SnapshotHistory();
    h.attempted(t0);
    h.failed(new Error('disk full'));
    expect(h.due(facts({ now: t0 + SNAPSHOT_RETRY_MS - 1, closedSegments: true, logBytes: LOG_SNAPSHOT_MIN_BYTES }))).toBeNull();
    expect(h.due(facts({ now: t0 + SNAPSHOT_RETRY_MS, closedSegments: true }))).toBe('retry');
    expect(h.due(facts({ now: t0 + SNAPSHOT_RETRY_MS, closedSegments: false }))).toBeNull();
    h.succeeded(result(10));
    expect(h.due(facts({ now: t0 + SNAPSHOT_RETRY_MS, closedSegments: true }))).toBeNull();
  });

  it('never retries on its own after a damaged input file (only SAVE tries again), and INFO says the last one failed', () => {
    const h = new SnapshotHistory();
    h.attempted(t0);
    h.failed(new SnapshotWorkerError('bad record', 'log-3.aof', 40));
    expect(h.due(facts({ now: t0 + 3_600_000, closedSegments: true, logBytes: 10 * LOG_SNAPSHOT_MIN_BYTES }))).toBeNull();
    expect(h.info(0, null)).toMatchObject({ snapshot_failures: 1, rdb_last_bgsave_status: 'err', rdb_bgsave_in_progress: 0, rdb_saves: 0 });
  });

  it('INFO shows the last snapshot written and the one running now', () => {
    const h = new SnapshotHistory();
    h.succeeded(result(4096));
    const info = h.info(7, Date.now() - 2500);
    expect(info).toMatchObject({
      rdb_changes_since_last_save: 7,
      rdb_bgsave_in_progress: 1,
      rdb_current_bgsave_time_sec: 2,
      rdb_saves: 1,
      rdb_last_bgsave_status: 'ok',
      snapshot_last_size: 4096,
      snapshot_last_keys: 10,
    });
  });
});
