import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MAIN, ServerProcess } from '../helpers/process.js';
import { RawClient } from '../helpers/socket.js';
import { multibulk, readReplies, respReplies } from './resp-reader.js';

describe('kv-server process', () => {
  const dirs: string[] = [];
  const procs: ServerProcess[] = [];
  const clients: RawClient[] = [];

  beforeAll(() => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first (npm test does)`);
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    for (const p of procs.splice(0)) {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
      await p.exited;
    }
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  function tempDir(): string {
    const d = mkdtempSync(path.join(tmpdir(), 'dualkv-proc-'));
    dirs.push(d);
    return d;
  }

  function spawnServer(args: string[]): ServerProcess {
    const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KV_PORT: undefined } });
    const p = new ServerProcess(child);
    procs.push(p);
    return p;
  }

  async function startServer(extra: string[] = []): Promise<{ proc: ServerProcess; port: number }> {
    const dir = tempDir();
    const proc = spawnServer(['--port', '0', '--data-dir', path.join(dir, 'data'), '--log-dir', path.join(dir, 'logs'), '--no-persistence', ...extra]);
    await proc.until((lines) => lines.some((l) => l.msg === 'listening'), 'the listening line');
    const listening = proc.find('listening')[0] as Record<string, unknown>;
    expect(listening.tcpPort).toEqual(expect.any(Number));
    expect(listening.tcpPort).not.toBe(0);
    return { proc, port: listening.tcpPort as number };
  }

  async function connect(port: number): Promise<RawClient> {
    const c = await RawClient.connect(port);
    clients.push(c);
    return c;
  }

  it('logs starting with the effective config and listening with the bound port, and serves both dialects', async () => {
    const { proc, port } = await startServer();
    const starting = proc.find('starting')[0];
    expect(starting?.config).toMatchObject({ host: '127.0.0.1', tcpPort: 0, logOps: true });
    const text = await connect(port);
    expect(await text.text('PUT k v', 'GET k')).toEqual(['OK', 'VALUE v']);
    const resp = await connect(port);
    resp.write(multibulk('GET', 'k'));
    expect(await respReplies(resp, 1)).toEqual(['v']);
  });

  it('on SIGTERM sends every reply already owed, closes the clients, logs stopped and exits 0', async () => {
    const { proc, port } = await startServer();
    const big = 'b'.repeat(100 * 1024);
    const setter = await connect(port);
    setter.write(multibulk('SET', 'big', big));
    expect(await respReplies(setter, 1)).toEqual([{ status: 'OK' }]);

    // A reader that is not reading: its replies pile up in the server, owed but unsent.
    // A plain socket that keeps chunks (RawClient copies its whole buffer on every chunk).
    const slow = net.connect({ port, host: '127.0.0.1' });
    await once(slow, 'connect');
    slow.pause();
    const chunks: Buffer[] = [];
    slow.on('data', (d: Buffer) => chunks.push(d));
    const slowClosed = once(slow, 'close');
    const N = 150; // 15 MB of replies: far over the socket buffers
    slow.write(Buffer.concat(Array.from({ length: N }, () => multibulk('GET', 'big'))));
    // The 150 requests (4 KB) arrive in one read. The first GETs run (their op lines are an event
    // on stdout, not a sleep); the rest wait, read but not run, while the client owes 1 MiB.
    await proc.until((lines) => lines.filter((l) => l.msg === 'op' && l.cmd === 'GET').length >= 5, 'the first GET op lines');
    const idle = await connect(port);

    proc.child.kill('SIGTERM');
    slow.resume();
    const [hadError] = (await slowClosed) as [boolean];
    expect(hadError).toBe(false); // closed with a FIN, not reset
    const received = Buffer.concat(chunks).toString('latin1');
    const { values, end } = readReplies(received);
    expect(values).toHaveLength(N);
    expect(values.every((v) => v === big)).toBe(true);
    expect(end).toBe(received.length); // nothing but whole replies
    await idle.waitClosed(); // an idle client is closed, not left hanging

    expect(await proc.exit()).toEqual({ code: 0, signal: null });
    expect(proc.find('stopping')[0]).toMatchObject({ signal: 'SIGTERM' });
    expect(proc.find('stopped')).toHaveLength(1);
  });

  it('on SIGTERM in the middle of a pipeline, answers a whole prefix of it and exits 0', async () => {
    const { proc, port } = await startServer(['--no-log-ops']);
    const c = await connect(port);
    const N = 20_000;
    c.write('PUT k v\n'.repeat(N));
    await c.until((r) => r.length > 0);
    proc.child.kill('SIGTERM');
    await c.waitClosed();
    const got = c.received;
    expect(got.length).toBeGreaterThan(0);
    expect(got.endsWith('\n')).toBe(true);
    expect(got).toBe('OK\n'.repeat(got.length / 3)); // in order, each whole, nothing else
    expect(got.length / 3).toBeLessThanOrEqual(N);
    expect(await proc.exit()).toEqual({ code: 0, signal: null });
    expect(proc.find('stopped')).toHaveLength(1);
    expect(proc.find('op')).toHaveLength(0); // --no-log-ops
  });

  it('on SIGTERM cuts a client that never reads once the clients\' share of --shutdown-timeout is up, and still exits 0', async () => {
    const { proc, port } = await startServer(['--no-log-ops', '--shutdown-timeout', '2000']);
    const setter = await connect(port);
    setter.write(multibulk('SET', 'big', 'b'.repeat(1024 * 1024)));
    expect(await respReplies(setter, 1)).toEqual([{ status: 'OK' }]);
    // 16 MB of replies owed to a socket that is never read: they can never all be written,
    // and a paused client never answers the server's FIN either.
    const stuck = net.connect({ port, host: '127.0.0.1' });
    await once(stuck, 'connect');
    stuck.pause();
    const stuckClosed = once(stuck, 'close');
    stuck.write(Buffer.concat(Array.from({ length: 16 }, () => multibulk('GET', 'big'))));

    proc.child.kill('SIGTERM');
    expect(await proc.exit()).toEqual({ code: 0, signal: null });
    expect(proc.find('stopped')[0]).toMatchObject({ exitCode: 0 });
    stuck.resume();
    await stuckClosed;
  });

  it('stops cleanly on SIGINT too', async () => {
    const { proc } = await startServer();
    proc.child.kill('SIGINT');
    expect(await proc.exit()).toEqual({ code: 0, signal: null });
    expect(proc.find('stopping')[0]).toMatchObject({ signal: 'SIGINT' });
    expect(proc.find('stopped')).toHaveLength(1);
  });

  describe('a bad configuration stops the start with a clear message and a non-zero exit', () => {
    it('--port 70000', async () => {
      const dir = tempDir();
      const proc = spawnServer(['--port', '70000', '--data-dir', dir, '--log-dir', dir, '--no-persistence']);
      const { code } = await proc.exit();
      expect(code).not.toBe(0);
      expect(proc.stderr).toContain('--port must be a whole number from 0 to 65535');
      expect(proc.find('listening')).toHaveLength(0);
    });

    it('a flag given twice (yargs would add the numbers up)', async () => {
      const dir = tempDir();
      const proc = spawnServer(['--port', '0', '--port', '1', '--data-dir', dir, '--log-dir', dir, '--no-persistence']);
      const { code } = await proc.exit();
      expect(code).toBe(2);
      expect(proc.stderr).toContain('--port is given more than once');
      expect(proc.find('listening')).toHaveLength(0);
    });

    it('a value outside a flag\'s choices, or an unknown flag: exit 2 and the reason, not the whole help', async () => {
      const dir = tempDir();
      for (const [args, reason] of [
        [['--udp-io', 'bogus'], 'Argument: udp-io, Given: "bogus", Choices: "auto", "batched", "dgram"'],
        [['--bogus'], 'Unknown argument: bogus'],
      ] as const) {
        const proc = spawnServer([...args, '--port', '0', '--data-dir', dir, '--log-dir', dir, '--no-persistence']);
        const { code } = await proc.exit();
        expect(code).toBe(2);
        expect(proc.stderr).toContain(reason);
        expect(proc.stderr).not.toContain('Options:');
      }
    });

    it('--data-dir naming a file', async () => {
      const dir = tempDir();
      const file = path.join(dir, 'not-a-dir');
      writeFileSync(file, 'x');
      const proc = spawnServer(['--port', '0', '--data-dir', file, '--log-dir', dir]);
      const { code } = await proc.exit();
      expect(code).not.toBe(0);
      expect(proc.stderr).toContain(`--data-dir ${file} exists and is not a directory`);
      expect(proc.find('listening')).toHaveLength(0);
    });
  });
});
