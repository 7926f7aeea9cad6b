import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createRootLogger, prettyChunk } from '../src/logger.js';
import { createOpLog } from '../src/op-log.js';

describe('the root logger', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  function tempDir(): string {
    const d = mkdtempSync(path.join(tmpdir(), 'dualkv-logger-'));
    dirs.push(d);
    return d;
  }

  it('rotates at exactly --log-max-size under a burst of op lines, keeps --log-files older files, and links current.log to the newest', async () => {
    const dir = tempDir();
    const maxSize = 64 * 1024;
    const root = await createRootLogger({ logDir: dir, logLevel: 'info', logMaxSize: maxSize, logFiles: 3, logMaxBacklog: 64 << 20 }, { stdout: false });
    const op = createOpLog(root.log.child({ transport: 'tcp', client: '127.0.0.1:40000', conn: 1 }));
    expect(op?.kind).toBe('direct');
    // A burst far faster than the disk's writes complete: chunks queue, and each write is cut to fit.
    for (let i = 0; i < 20_000; i++) op?.write('SET', `key:${i}`, i % 1000, 'ok', undefined, i % 50, performance.now());
    await root.close(10_000);
    const names = readdirSync(dir).filter((n) => /^dualkv\.\d+\.log$/.test(n));
    expect(names).toHaveLength(4);
    for (const name of names) expect(statSync(path.join(dir, name)).size).toBeLessThanOrEqual(maxSize);
    const newest = names.sort((a, b) => Number(b.split('.')[1]) - Number(a.split('.')[1]))[0];
    expect(readlinkSync(path.join(dir, 'current.log'))).toBe(newest);
    const last = readFileSync(path.join(dir, 'current.log'), 'utf8').trimEnd().split('\n').pop() as string;
    expect(JSON.parse(last)).toMatchObject({ cmd: 'SET', key: 'key:19999' });
    expect(root.stats()).toMatchObject({ log_lines_dropped: 0, log_write_errors: 0, log_backlog_bytes: 0, log_file_lines_written: 20_000 });
    expect(root.stats().log_file_rotations).toBeGreaterThanOrEqual(3);
  });

  it('counts, per destination and in total, the lines dropped and written, write errors and the backlog', async () => {
    const root = await createRootLogger({ logDir: tempDir(), logLevel: 'info', logMaxSize: 1 << 20, logFiles: 1, logMaxBacklog: 1 << 20 }, { stdout: false });
    root.log.info('one line');
    await new Promise<void>((resolve) => root.log.flush(() => resolve()));
    expect(root.stats()).toEqual({
      log_lines_dropped: 0,
      log_write_errors: 0,
      log_backlog_bytes: 0,
      log_file_lines_written: 1,
      log_file_lines_dropped: 0,
      log_file_write_errors: 0,
      log_file_backlog_bytes: 0,
      log_file_failing: 0,
      log_file_rotations: 0,
    });
    await root.close();
  });

  it('pretty-prints a chunk of lines for a terminal, line by line', async () => {
    const lines = [
      { level: 'info', time: '2026-01-02T03:04:05.678Z', pid: 1, cmd: 'GET', msg: 'op' },
      { level: 'warn', time: '2026-01-02T03:04:05.679Z', pid: 1, msg: 'slow' },
    ];
    const out = (await prettyChunk())(Buffer.from(lines.map((l) => JSON.stringify(l) + '\n').join(''))).toString();
    // eslint-disable-next-line no-control-regex
    const plain = out.replace(/\x1b\[[0-9;]*m/g, '').split('\n').filter(Boolean);
    expect(plain[0]).toMatch(/INFO.*: op$/);
    expect(plain[1]).toMatch(/cmd: "GET"/);
    expect(plain[2]).toMatch(/WARN.*: slow$/);
  });
});
