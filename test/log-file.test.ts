import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LogDestination } from '../src/log-destination.js';
import { RotatingLogFile } from '../src/log-file.js';

const NO_EVENTS = { dropped: () => undefined, failed: () => undefined, recovered: () => undefined };

describe('the rotated log file', () => {
  const dirs: string[] = [];
  afterEach(() => {
    vi.useRealTimers();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  function tempDir(): string {
    const d = mkdtempSync(path.join(tmpdir(), 'dualkv-logfile-'));
    dirs.push(d);
    return d;
  }

  /** Writes `chunks` through a destination, as the logger does, and closes it. */
  async function writeAll(file: RotatingLogFile, chunks: Buffer[]): Promise<LogDestination> {
    const dest = new LogDestination('file', file, 64 << 20, NO_EVENTS);
    for (const c of chunks) dest.push(c, c.toString().split('\n').length - 1);
    await dest.close(10_000);
    return dest;
  }

  /** The log files in `dir`, oldest first, with their text. */
  function files(dir: string): Array<{ name: string; text: string }> {
    return readdirSync(dir)
      .filter((n) => /^dualkv\.\d+\.log$/.test(n))
      .sort((a, b) => Number(a.split('.')[1]) - Number(b.split('.')[1]))
      .map((name) => ({ name, text: readFileSync(path.join(dir, name), 'utf8') }));
  }

  /** Lines `from`..`to`-1, of lengths that vary so that cuts fall everywhere, gathered into chunks of `perChunk`. */
  function lines(from: number, to: number, perChunk: number): Buffer[] {
    const out: Buffer[] = [];
    for (let i = from; i < to; i += perChunk) {
      let s = '';
      for (let j = i; j < Math.min(to, i + perChunk); j++) s += `{"n":${j},"pad":"${'x'.repeat((j * 37) % 200)}"}\n`;
      out.push(Buffer.from(s));
    }
    return out;
  }

  it('never grows a file past its size: writes are cut after the last whole line that fits; it keeps that many older files and links current.log to the newest', async () => {
    const dir = tempDir();
    const maxSize = 4096;
    const dest = await writeAll(RotatingLogFile.openSync(dir, maxSize, 3), lines(0, 2000, 150));
    expect(dest.linesWritten).toBe(2000);
    const kept = files(dir);
    expect(kept).toHaveLength(4);
    for (const f of kept) {
      expect(Buffer.byteLength(f.text)).toBeLessThanOrEqual(maxSize);
      expect(f.text.endsWith('\n')).toBe(true);
    }
    // Each kept file holds whole lines, and together they are the newest lines in order, none missing.
    const numbers = kept.flatMap((f) => f.text.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { n: number }).n));
    expect(numbers).toEqual(Array.from({ length: numbers.length }, (_, i) => 2000 - numbers.length + i));
    // A file is cut only when the next line would not fit.
    for (const f of kept.slice(0, -1)) expect(Buffer.byteLength(f.text)).toBeGreaterThan(maxSize - 250);
    expect(readlinkSync(path.join(dir, 'current.log'))).toBe(kept[kept.length - 1]?.name);
  });

  it('puts a line longer than the limit alone into a fresh file', async () => {
    const dir = tempDir();
    const long = `${'y'.repeat(5000)}\n`;
    await writeAll(RotatingLogFile.openSync(dir, 1024, 10), [Buffer.from(`short 1\n${long}short 2\n`)]);
    expect(files(dir).map((f) => f.text)).toEqual(['short 1\n', long, 'short 2\n']);
  });

  it('goes on appending to the newest file it finds at start, and numbers on from it', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'dualkv.6.log'), 'old\n');
    writeFileSync(path.join(dir, 'dualkv.7.log'), 'newest\n');
    await writeAll(RotatingLogFile.openSync(dir, 20, 5), [Buffer.from('appended\n'), Buffer.from('rolled over\n')]);
    expect(files(dir)).toEqual([
      { name: 'dualkv.6.log', text: 'old\n' },
      { name: 'dualkv.7.log', text: 'newest\nappended\n' },
      { name: 'dualkv.8.log', text: 'rolled over\n' },
    ]);
    expect(readlinkSync(path.join(dir, 'current.log'))).toBe('dualkv.8.log');
  });

  it('makes its directory and file again when they are deleted, within about a second, and links current.log again', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const dir = path.join(tempDir(), 'logs');
    const file = RotatingLogFile.openSync(dir, 1 << 20, 2);
    const dest = new LogDestination('file', file, 1 << 20, NO_EVENTS);
    dest.push(Buffer.from('before\n'), 1);
    await new Promise<void>((resolve) => dest.whenWritten(resolve));
    rmSync(dir, { recursive: true });
    vi.setSystemTime(Date.now() + 1500);
    dest.push(Buffer.from('after\n'), 1);
    await dest.close(10_000);
    expect(readFileSync(path.join(dir, 'current.log'), 'utf8')).toBe('after\n');
    expect(statSync(path.join(dir, 'dualkv.1.log')).size).toBe(6);
  });
});
