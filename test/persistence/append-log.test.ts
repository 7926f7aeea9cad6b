import { once, EventEmitter } from 'node:events';
import { open, type FileHandle } from 'node:fs/promises';
import { constants, mkdirSync, renameSync, rmSync, unlinkSync } from 'node:fs';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppendLog, type LogFailure, type LogFileOps } from '../../src/persistence/append-log.js';
import { realFileOps } from '../../src/persistence/log-io.js';
import { DIRECT_MAX_BYTES, POOL_SPELL_MS, SLOW_WRITE_MS } from '../../src/persistence/write-path.js';
import { readRecordFile } from '../../src/persistence/file-reader.js';
import { segmentPath } from '../../src/persistence/files.js';
import { FileKind } from '../../src/persistence/formats.js';
import { type DecodedRecord } from '../../src/persistence/record-decode.js';
import type { FsyncPolicy } from '../../src/config.js';
import type { KvError } from '../../src/errors.js';
import { LogCapture } from '../helpers/server.js';
import { put, puts } from './files.js';
import { tempDir } from './helpers.js';

/**
 * Wraps the log's file handles: counts write() calls and, while `fail` is set, makes
 * them fail as a full disk does, optionally after writing part of the buffer first.
 * Blocking writes (on the main thread) and thread-pool ones are also counted apart;
 * `slowSyncMs` makes a blocking write take that long, as one the kernel holds back for
 * a slow disk does; after holdSyncs() each fdatasync waits until the function it
 * returned is called; the disk emits 'datasync' as one starts and 'written' after a write.
 */
class FaultyDisk extends EventEmitter implements LogFileOps {
  writes = 0;
  blockingWrites = 0;
  poolWrites = 0;
  fail: null | { partial: number } = null;
  slowSyncMs = 0;
  private held: Promise<void> | null = null;
  release: () => void = () => undefined;

  holdSyncs(): () => void {
    this.held = new Promise((r) => {
      this.release = () => {
        this.held = null;
        r();
      };
    });
    return this.release;
  }
  readonly flags: number[] = [];

  async open(p: string, flags: number): Promise<FileHandle> {
    this.flags.push(flags);
    const fh = await open(p, flags);
    return new Proxy(fh, {
      get: (target, prop) => {
        if (prop === 'datasync') {
          return async () => {
            this.emit('datasync');
            if (this.held) await this.held;
            return target.datasync();
          };
        }
        if (prop === 'write') {
          return async (buf: Buffer, offset: number, length: number, position: number) => {
            this.writes++;
            this.poolWrites++;
            if (this.fail) {
              if (this.fail.partial > 0) await target.write(buf, offset, Math.min(this.fail.partial, length), position);
              throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
            }
            const done = await target.write(buf, offset, length, position);
            this.emit('written');
            return done;
          };
        }
        const v = Reflect.get(target, prop) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }

  /** The `always` policy writes synchronously: the same counting and the same failures. */
  writeSync(fh: FileHandle, data: Buffer, offset: number, length: number, position: number): number {
    this.writes++;
    this.blockingWrites++;
    if (this.slowSyncMs > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, this.slowSyncMs);
    if (this.fail) {
      if (this.fail.partial > 0) realFileOps.writeSync(fh, data, offset, Math.min(this.fail.partial, length), position);
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    }
    const n = realFileOps.writeSync(fh, data, offset, length, position);
    this.emit('written');
    return n;
  }
}

describe('the append-only log writer', () => {
  let dir: string;
  let disk: FaultyDisk;
  let failures: Array<LogFailure | null>;
  let logged: LogCapture;
  /** Every log a test opened: closed after it (a failed test leaves its log open, and its timers would reach the next). */
  let opened: AppendLog[];
  const events = new EventEmitter();

  async function openLog(policy: FsyncPolicy): Promise<AppendLog> {
    logged = new LogCapture();
    const log = await AppendLog.open(
      {
        dir,
        policy,
        log: pino({ level: 'debug' }, logged),
        fileOps: disk,
        onFailureChange: (f) => {
          failures.push(f);
          events.emit('failure', f);
        },
      },
      1,
      0,
    );
    opened.push(log);
    return log;
  }

  function readBack(): DecodedRecord[] {
    const got: DecodedRecord[] = [];
    const out = readRecordFile(segmentPath(dir, 1), FileKind.LOG, (r) => got.push({ ...r }));
    expect(out.problem).toBeNull();
    return got;
  }

  beforeEach(() => {
    dir = tempDir();
    disk = new FaultyDisk();
    failures = [];
    opened = [];
  });
  afterEach(async () => {
    disk.fail = null;
    disk.slowSyncMs = 0;
    disk.release();
    for (const log of opened) await log.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(`${dir}-old`, { recursive: true, force: true });
  });

  it('group-commits: mutations applied in one turn leave in one (O_DSYNC) write, in order, and settle after it', async () => {
    const log = await openLog('always');
    const before = disk.writes;
    const ms = puts('k', 1000);
    const waits = ms.map((m) => log.append(m));
    expect(waits.every((w) => w instanceof Promise)).toBe(true);
    expect(new Set(waits).size).toBe(1); // one shared promise per batch
    await Promise.all(waits);
    expect(disk.writes - before).toBe(1);
    expect(disk.flags.every((f) => (f & constants.O_DSYNC) !== 0)).toBe(true); // each write is its own fdatasync
    expect(readBack().map((r) => ('key' in r ? r.key : ''))).toEqual(ms.map((m) => ('key' in m ? m.key : '')));
    await log.close();
  });

  it('batches from successive turns settle in the order they were appended', async () => {
    const log = await openLog('always');
    const settled: number[] = [];
    const waits: Array<Promise<void>> = [];
    for (let turn = 0; turn < 20; turn++) {
      const p = log.append(put(`k${turn}`, 'v')) as Promise<void>;
      waits.push(p.then(() => void settled.push(turn)));
      await new Promise((r) => setImmediate(r)); // the next append lands in a new batch
    }
    await Promise.all(waits);
    expect(settled).toEqual(Array.from({ length: 20 }, (_, i) => i));
    await log.close();
    expect(readBack()).toHaveLength(20);
  });

  it('with everysec and no, the reply does not wait: append returns undefined', async () => {
    for (const policy of ['everysec', 'no'] as const) {
      rmSync(segmentPath(dir, 1), { force: true });
      const log = await openLog(policy);
      expect((disk.flags.at(-1) as number) & constants.O_DSYNC).toBe(0);
      expect(log.append(put('a', '1'))).toBeUndefined();
      await log.close();
      expect(readBack()).toHaveLength(1);
    }
  });

  describe('under everysec and no, where a batch is written', () => {
    /** Appends one record and waits until its batch was written (it may queue behind the periodic file check). */
    async function appendOne(log: AppendLog, key: string): Promise<void> {
      const written = once(disk, 'written');
      log.append(put(key, 'v'));
      await written;
    }

    it('on the main thread, into the page cache, as Redis writes its AOF', async () => {
      for (const policy of ['everysec', 'no'] as const) {
        rmSync(segmentPath(dir, 1), { force: true });
        const log = await openLog(policy);
        const [blocking, pool] = [disk.blockingWrites, disk.poolWrites];
        for (let i = 0; i < 3; i++) await appendOne(log, `k${i}`);
        expect(disk.blockingWrites - blocking).toBe(3);
        expect(disk.poolWrites - pool).toBe(0);
        await log.close();
        expect(readBack().map((r) => ('key' in r ? r.key : ''))).toEqual(['k0', 'k1', 'k2']);
      }
    });

    it('in the thread pool while the once-a-second fdatasync runs, since a write then could wait for it', async () => {
      const log = await openLog('everysec');
      const release = disk.holdSyncs();
      const started = once(disk, 'datasync');
      await appendOne(log, 'before');
      await started; // the timer's fdatasync of 'before' is in flight, and held
      const [blocking, pool] = [disk.blockingWrites, disk.poolWrites];
      await appendOne(log, 'during');
      expect(disk.poolWrites - pool).toBe(1);
      expect(disk.blockingWrites - blocking).toBe(0);
      release();
      await log.flushAndSync();
      await appendOne(log, 'after');
      expect(disk.blockingWrites - blocking).toBe(1);
      await log.close();
      expect(readBack().map((r) => ('key' in r ? r.key : ''))).toEqual(['before', 'during', 'after']);
    });

    it('in the thread pool while a snapshot is written beside the log, and for a batch over DIRECT_MAX_BYTES', async () => {
      const log = await openLog('everysec');
      let [blocking, pool] = [disk.blockingWrites, disk.poolWrites];
      log.snapshotting = true;
      await appendOne(log, 'during');
      expect([disk.blockingWrites - blocking, disk.poolWrites - pool]).toEqual([0, 1]);
      log.snapshotting = false;
      await appendOne(log, 'after');
      expect([disk.blockingWrites - blocking, disk.poolWrites - pool]).toEqual([1, 1]);
      [blocking, pool] = [disk.blockingWrites, disk.poolWrites];
      const written = once(disk, 'written');
      log.append(put('big', 'x'.repeat(DIRECT_MAX_BYTES)));
      await written;
      expect([disk.blockingWrites - blocking, disk.poolWrites - pool]).toEqual([0, 1]);
      await log.close();
      expect(readBack().map((r) => ('key' in r ? r.key : ''))).toEqual(['during', 'after', 'big']);
    });

    it('in the thread pool after a write that kept the event loop waiting, with a warning and a count', async () => {
      const log = await openLog('everysec');
      disk.slowSyncMs = SLOW_WRITE_MS + 15;
      await appendOne(log, 'slow');
      disk.slowSyncMs = 0;
      expect(log.slowWrites).toBe(1);
      const warning = logged.find('a write of the append-only log kept the event loop waiting (the disk is slow to take writes): the next writes go through the thread pool for a while');
      expect(warning).toHaveLength(1);
      expect(warning[0]).toMatchObject({ level: 40, poolSeconds: POOL_SPELL_MS / 1000 });
      expect(warning[0]?.tookMs).toBeGreaterThan(SLOW_WRITE_MS);
      const [blocking, pool] = [disk.blockingWrites, disk.poolWrites];
      for (let i = 0; i < 3; i++) await appendOne(log, `next${i}`);
      expect(disk.poolWrites - pool).toBe(3);
      expect(disk.blockingWrites - blocking).toBe(0);
      expect(log.slowWrites).toBe(1);
      await log.close();
      expect(readBack()).toHaveLength(4);
    });
  });

  it('a failed write rejects its waiters with READ_ONLY, refuses writes, and recovers by itself once the disk has room', async () => {
    const log = await openLog('always');
    await log.append(put('ok', 'before'));
    disk.fail = { partial: 5 }; // a short write, then ENOSPC: the file ends in half a record
    const failed = once(events, 'failure');
    const p = log.append(put('lost?', 'during'));
    await expect(p).rejects.toMatchObject({ code: 'READ_ONLY' });
    await failed;
    expect(log.failure?.err.code).toBe('ENOSPC');
    const refusal: KvError = log.refusal();
    expect(refusal.code).toBe('READ_ONLY');
    expect(refusal.respPrefix).toBe('MISCONF');
    expect(refusal.message).toMatch(/could not be written \(ENOSPC.*free disk space/);

    const recovered = once(events, 'failure');
    disk.fail = null;
    const [after] = (await recovered) as [LogFailure | null];
    expect(after).toBeNull();
    expect(log.failure).toBeNull();
    // The partial write was cut and the refused record written after all: the file matches memory.
    expect(readBack().map((r) => ('key' in r ? r.key : ''))).toEqual(['ok', 'lost?']);
    await log.append(put('again', 'after'));
    await log.close();
    expect(readBack()).toHaveLength(3);
    expect(failures.map((f) => (f === null ? null : f.op))).toEqual(['write', null]);
  });

  it('rotation closes the segment and continues in the next one', async () => {
    const log = await openLog('always');
    await log.append(put('a', '1'));
    log.append(put('b', '2'));
    const closed = await log.rotate();
    expect(closed.seq).toBe(1);
    expect(closed.appended).toBe(2);
    await log.append(put('c', '3'));
    await log.close();
    expect(readBack()).toHaveLength(2);
    const next: DecodedRecord[] = [];
    expect(readRecordFile(segmentPath(dir, 2), FileKind.LOG, (r) => next.push({ ...r })).problem).toBeNull();
    expect(next.map((r) => ('key' in r ? r.key : ''))).toEqual(['c']);
  });
  describe('counts acknowledged writes that are not on disk', () => {
    it('under everysec, from the reply until the fdatasync; under always, never (the reply waits)', async () => {
      const everysec = await openLog('everysec');
      for (const m of puts('e', 5)) everysec.append(m);
      expect(everysec.notOnDisk).toBe(5);
      await everysec.flushAndSync();
      expect(everysec.notOnDisk).toBe(0);
      await everysec.close();
      rmSync(segmentPath(dir, 1));
      const always = await openLog('always');
      const waits = puts('a', 5).map((m) => always.append(m));
      expect(always.notOnDisk).toBe(0);
      await Promise.all(waits);
      expect(always.notOnDisk).toBe(0);
      await always.close();
    });

    it('under everysec, a write the disk refused stays counted until a retry writes it', async () => {
      const log = await openLog('everysec');
      log.append(put('ok', '1'));
      await log.flushAndSync();
      disk.fail = { partial: 0 };
      const failed = once(events, 'failure');
      log.append(put('held', '2'));
      await failed;
      expect(log.notOnDisk).toBe(1);
      expect(log.ioErrors).toBeGreaterThan(0);
      const recovered = once(events, 'failure');
      disk.fail = null;
      await recovered;
      expect(log.notOnDisk).toBe(0);
      await log.close();
      expect(readBack()).toHaveLength(2);
    });
  });

  describe('notices its files deleted or replaced under it', () => {
    it('under always, a batch written after its segment was unlinked is refused, and so is every later write', async () => {
      const log = await openLog('always');
      await log.append(put('a', '1'));
      unlinkSync(segmentPath(dir, 1));
      await expect(log.append(put('b', '2'))).rejects.toMatchObject({
        code: 'READ_ONLY',
        message: expect.stringMatching(/^write not acknowledged: the log segment .*log-000000000001\.kvlog was deleted while the server was running/),
      });
      expect(log.failure).toMatchObject({ op: 'gone', retryable: false, missing: { dir: false } });
      expect(log.refusal().message).toMatch(/Before stopping this server, copy \/proc\/\d+\/fd\/\d+ \(the deleted segment, still open\) back to .*log-000000000001\.kvlog/);
      expect(log.notOnDisk).toBe(1); // 'a' was acknowledged, and its file is gone
      await log.close();
    });

    it('under everysec, the periodic check finds a deleted segment', async () => {
      const log = await openLog('everysec');
      for (const m of puts('k', 3)) log.append(m);
      await log.flushAndSync();
      const gone = once(events, 'failure');
      unlinkSync(segmentPath(dir, 1));
      const [failure] = (await gone) as [LogFailure];
      expect(failure.op).toBe('gone');
      expect(failure.err.message).toMatch(/log-000000000001\.kvlog was deleted$/);
      expect(log.notOnDisk).toBe(3);
      expect(log.refusal().code).toBe('READ_ONLY');
      await log.close();
    });

    it('a data directory moved away and made again is another directory: every acknowledged write counts as lost', async () => {
      const log = await openLog('everysec');
      for (const m of puts('k', 4)) log.append(m);
      await log.flushAndSync();
      const gone = once(events, 'failure');
      renameSync(dir, `${dir}-old`);
      mkdirSync(dir);
      const [failure] = (await gone) as [LogFailure];
      expect(failure).toMatchObject({ op: 'gone', missing: { dir: true } });
      expect(failure.err.message).toBe(`the data directory ${dir} was replaced by another directory`);
      expect(log.notOnDisk).toBe(4);
      await log.close();
    });
  });
});
