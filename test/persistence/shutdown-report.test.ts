/**
 * What SIGTERM's exit code says about the data. 0: every acknowledged write is on disk
 * and the final snapshot was written; 3: acknowledged writes are not on disk (see
 * missing-files and write-failure); 4: nothing acknowledged is lost but the stop was
 * incomplete (the final snapshot failed); 1: a second signal cut the stop short.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { once } from 'node:events';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { segmentPath } from '../../src/persistence/files.js';
import { connect, ready, requireFreshBuild, spawnServer, tempDir, type ServerProcess } from './helpers.js';

describe('the exit code of a stop', () => {
  let dir: string;
  let server: ServerProcess | null = null;
  const clients: Redis[] = [];
  const sockets: net.Socket[] = [];

  beforeAll(() => requireFreshBuild());
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.disconnect();
    for (const s of sockets.splice(0)) s.destroy();
    await server?.kill('SIGKILL');
    server = null;
    rmSync(dir, { recursive: true, force: true });
  });

  it('a final snapshot that fails exits 4, saying that no acknowledged write is lost, and still unlocks', async () => {
    server = await spawnServer(dir, ['--fsync', 'always', '--snapshot-interval', '0']);
    const r = await ready(connect(server.tcpPort));
    clients.push(r);
    for (let i = 0; i < 10; i++) await r.set(`key${i}`, `value${i}`);
    // Damage a record inside the segment that the snapshots must fold.
    const file = segmentPath(dir, 1);
    const bytes = readFileSync(file);
    bytes[bytes.length - 30] = (bytes[bytes.length - 30] as number) ^ 0xff;
    writeFileSync(file, bytes);
    await expect(r.save()).rejects.toThrow(/snapshot failed/);

    const exit = await server.kill('SIGTERM');
    expect(exit.code, exit.stderr).toBe(4);
    const line = server.lines.find((l) => l.msg === 'shutdown: no final snapshot, but the log holds every acknowledged write');
    expect(line).toMatchObject({ level: 'error', writesNotOnDisk: 0, reason: expect.stringMatching(/^the final snapshot failed: .*log-000000000001\.kvlog cannot be read/) });
    expect(server.lines.find((l) => l.msg === 'stopped')).toMatchObject({ exitCode: 4, writesNotOnDisk: 0 });
    expect(exit.stderr).toMatch(/stopped with errors \(exit 4\): every acknowledged write is on disk; the final snapshot failed/);
    expect(existsSync(path.join(dir, 'LOCK'))).toBe(false);
  });

  it('a second signal while the stop waits for a client exits 1 at once', async () => {
    server = await spawnServer(dir, ['--shutdown-timeout', '60000', '--max-value-size', '32mb']);
    const r = await ready(connect(server.tcpPort));
    clients.push(r);
    await r.set('big', 'b'.repeat(32 * 1024 * 1024));
    // A client that never reads, owed one 32 MB reply: far more than the socket buffers
    // hold, so the stop waits for it until the clients' share of the timeout. (Requests
    // it sent but the server has not run yet would not hold the stop: they are dropped.)
    const stuck = net.connect({ port: server.tcpPort, host: '127.0.0.1' });
    sockets.push(stuck);
    await once(stuck, 'connect');
    stuck.pause();
    stuck.write('*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n');
    // Once the server has run the GET, the reply it still owes shows in INFO memory.
    const owed = async () => Number(/^mem_clients_normal:(\d+)/m.exec(await r.info('memory'))?.[1] ?? 0);
    while ((await owed()) < 16 * 1024 * 1024) await new Promise((resolve) => setTimeout(resolve, 20));

    process.kill(server.pid, 'SIGTERM');
    await server.waitFor('stopping');
    const exit = await server.kill('SIGTERM');
    expect(exit.code).toBe(1);
    expect(server.lines.find((l) => l.msg === 'second signal: exiting now')).toMatchObject({ signal: 'SIGTERM' });
  });
});
