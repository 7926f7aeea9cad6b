import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { UdpClient } from '../clients/lib/udp-client.js';
import { createRootLogger } from '../src/logger.js';
import { createOpLog, type OpOutcome } from '../src/op-log.js';
import { describeKey } from '../src/store/bytes.js';

type Op = [cmd: string, key: string | undefined, vsize: number | undefined, outcome: OpOutcome, err: string | undefined, us: number];

const OPS: Op[] = [
  ['GET', 'key:1', 100, 'ok', undefined, 3],
  ['GET', 'nothing', undefined, 'not_found', undefined, 0],
  ['PUT', 'we"ird\\\\key', 5, 'ok', undefined, 1234567],
  ['SET', 'k', undefined, 'error', 'KEY_TOO_LARGE', 7],
  ['PING', undefined, undefined, 'ok', undefined, 1],
  // Numbers at each width the direct writer handles: one digit, a power of ten, past 2^31.
  ['SET', 'k10', 10, 'ok', undefined, 9],
  ['SET', 'k2', 2147483648, 'ok', undefined, 100000],
  ['GET', 'k0', 0, 'not_found', undefined, 2147483647],
  ['FOO\\x00', undefined, undefined, 'error', 'UNKNOWN_COMMAND', 2],
  // Keys the line shows described (describeKey): control and non-ASCII bytes, a quote, a backslash, past 64 bytes.
  ['GET', 'tab\there "quoted" \u0001 \u00ff', 0, 'ok', undefined, 4],
  ['GET', `${'k'.repeat(64)}\\`, 1, 'ok', undefined, 4],
  ['GET', 'x'.repeat(65), 1, 'ok', undefined, 4],
  ['GET', 'x'.repeat(64), 1, 'ok', undefined, 4],
  ['GET', '', 1, 'not_found', undefined, 4],
];

describe('op lines', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  async function rootLogger(logLevel: 'info' | 'warn' = 'info') {
    const dir = mkdtempSync(path.join(tmpdir(), 'dualkv-oplog-'));
    dirs.push(dir);
    const root = await createRootLogger({ logDir: dir, logLevel, logMaxSize: 1 << 20, logFiles: 2, logMaxBacklog: 8 << 20 }, { stdout: false });
    return { root, file: path.join(dir, 'current.log') };
  }

  it("written directly into the server's log are the lines pino writes for the same fields: byte for byte (but the time), keys described", async () => {
    const { root, file } = await rootLogger();
    const child = root.log.child({ transport: 'udp', client: '127.0.0.1:4000' });
    const op = createOpLog(child);
    expect(op?.kind).toBe('direct');
    for (const [cmd, key, vsize, outcome, err, us] of OPS) {
      op?.write(cmd, key, vsize, outcome, err, us, performance.now());
      child.info({ cmd, key: key === undefined ? undefined : describeKey(key), vsize, outcome, err, us }, 'op');
    }
    await root.close();
    const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    expect(lines).toHaveLength(2 * OPS.length);
    const noTime = (l: string) => l.replace(/,"time":"[^"]*"/, '');
    for (let i = 0; i < OPS.length; i++) {
      const [direct, viaPino] = [lines[2 * i] as string, lines[2 * i + 1] as string];
      const parsed = JSON.parse(direct) as Record<string, unknown>;
      // describeKey only ever gives printable ASCII, so the two are the same bytes.
      expect(noTime(direct)).toBe(noTime(viaPino));
      expect(direct).toMatch(/^[\x20-\x7e]*$/);
      expect(parsed.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      const [cmd, key, vsize, outcome, err, us] = OPS[i] as Op;
      expect(parsed).toMatchObject({ level: 'info', pid: process.pid, transport: 'udp', client: '127.0.0.1:4000', cmd, outcome, us, msg: 'op' });
      expect([parsed.key, parsed.vsize, parsed.err]).toEqual([key === undefined ? undefined : describeKey(key), vsize, err]);
    }
  });

  it("carry the wall-clock time the command finished at, to the millisecond, also when many lines share one", async () => {
    const { root, file } = await rootLogger();
    const op = createOpLog(root.log.child({ transport: 'tcp' }));
    const bounds: Array<[number, number]> = [];
    // Bursts of lines within one millisecond, then pauses: each stamp is read anew once the clock moves on.
    for (let burst = 0; burst < 5; burst++) {
      for (let i = 0; i < 50; i++) {
        const before = Date.now();
        op?.write('GET', `k${i}`, 1, 'ok', undefined, 1, performance.now());
        bounds.push([before, Date.now()]);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    await root.close();
    const times = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => Date.parse((JSON.parse(l) as { time: string }).time));
    expect(times).toHaveLength(bounds.length);
    // A stamp left over from before a pause would fall below `before - 1`.
    times.forEach((t, i) => {
      const [before, after] = bounds[i] as [number, number];
      expect(t).toBeGreaterThanOrEqual(before - 1);
      expect(t).toBeLessThanOrEqual(after);
    });
  });

  it("of several sessions, interleaved, each carry their own session's fields and the time, as pino writes them", async () => {
    const { root, file } = await rootLogger();
    const children = [0, 1, 2].map((c) => root.log.child({ transport: c === 2 ? 'udp' : 'tcp', client: `127.0.0.1:${5000 + c}`, conn: c }));
    const ops = children.map((c) => createOpLog(c));
    const bounds: Array<[number, number]> = [];
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 30; i++) {
        const c = (i * 7 + round) % 3;
        const before = Date.now();
        ops[c]?.write('GET', `k${i}`, i, 'ok', undefined, i, performance.now());
        bounds.push([before, Date.now()]);
        children[c]?.info({ cmd: 'GET', key: `k${i}`, vsize: i, outcome: 'ok', us: i }, 'op');
        bounds.push([before, Date.now()]);
      }
      await new Promise((r) => setTimeout(r, 3));
    }
    await root.close();
    const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    expect(lines).toHaveLength(bounds.length);
    const noTime = (l: string) => l.replace(/,"time":"[^"]*"/, '');
    for (let i = 0; i < lines.length; i += 2) expect(noTime(lines[i] as string)).toBe(noTime(lines[i + 1] as string));
    lines.forEach((l, i) => {
      const t = Date.parse((JSON.parse(l) as { time: string }).time);
      const [before, after] = bounds[i] as [number, number];
      expect(t).toBeGreaterThanOrEqual(before - 1);
      expect(t).toBeLessThanOrEqual(after);
    });
  });

  it('go through pino for any other destination', () => {
    const lines: string[] = [];
    // A stand-in for pino-pretty on a terminal, or a test's capture.
    const op = createOpLog(pino({ level: 'info' }, { write: (l: string) => lines.push(l) }));
    expect(op?.kind).toBe('pino');
    op?.write('GET', 'k', 1, 'ok', undefined, 2, performance.now());
    expect(JSON.parse(lines[0] as string)).toMatchObject({ level: 30, cmd: 'GET', key: 'k', vsize: 1, outcome: 'ok', us: 2, msg: 'op' });
  });

  it('are not made at all when the log level is above info', async () => {
    const { root } = await rootLogger('warn');
    expect(createOpLog(root.log.child({ transport: 'tcp' }))).toBeNull();
    await root.close();
  });

  it('reach the log file of a kv-server whose stdout is /dev/null', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dualkv-oplog-'));
    dirs.push(dir);
    const main = path.resolve('dist/src/kv-server.js');
    expect(existsSync(main)).toBe(true);
    const child = spawn(process.execPath, [main, '--port', '0', '--no-persistence', '--data-dir', path.join(dir, 'data'), '--log-dir', path.join(dir, 'logs')], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const file = path.join(dir, 'logs', 'current.log');
    const lines = () => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) : []);
    const until = async (what: string, found: () => Record<string, unknown> | undefined) => {
      for (let i = 0; i < 200; i++) {
        const line = found();
        if (line) return line;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`no ${what} line in ${file}`);
    };
    try {
      const listening = await until('listening', () => lines().find((l) => l.msg === 'listening'));
      const client = await UdpClient.connect({ port: Number(listening.udpPort), timeoutMs: 500, retries: 3 });
      await client.put('k', 'v');
      await client.close();
      const op = await until('op', () => lines().find((l) => l.msg === 'op'));
      expect(op).toMatchObject({ level: 'info', transport: 'udp', cmd: 'PUT', key: 'k', vsize: 1, outcome: 'ok' });
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      clearTimeout(killer);
      child.kill('SIGKILL');
    }
  });
});
