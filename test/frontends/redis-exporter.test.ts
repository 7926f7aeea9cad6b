import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../bench/lib/procs.js';
import { havePeer } from '../helpers/peers.js';
import { serverFixture } from '../helpers/server.js';
import { request } from './resp-reader.js';

/** Prometheus's redis_exporter (Debian's prometheus-redis-exporter) scrapes dualkv's INFO as it scrapes Redis's. */
describe.skipIf(!havePeer('prometheus-redis-exporter', 'prometheus-redis-exporter'))('redis_exporter against dualkv', () => {
  const fx = serverFixture();
  let exporter: ChildProcess | undefined;
  afterEach(() => {
    exporter?.kill();
    exporter = undefined;
  });

  it('reports the server up, its clients, keys and commands, with no scrape error', async () => {
    const c = await fx.connect();
    await request(c, 'SET', 'a', '1');
    await request(c, 'SET', 'b', '2', 'EX', '100');
    const port = await freePort();
    const child = spawn('prometheus-redis-exporter', ['-redis.addr', `redis://127.0.0.1:${fx.srv.tcpPort}`, '-web.listen-address', `127.0.0.1:${port}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    exporter = child;
    // Waits for its "Providing metrics at …" line: an event, not a sleep.
    await new Promise<void>((resolve, reject) => {
      let err = '';
      const timer = setTimeout(() => reject(new Error(`redis_exporter did not start: ${err}`)), 15_000);
      child.stderr?.on('data', (d: Buffer) => {
        err += d.toString();
        if (err.includes('Providing metrics at')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.on('exit', (code) => reject(new Error(`redis_exporter exited with ${code}: ${err}`)));
    });
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const metric = (name: string) => new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1];
    expect(metric('redis_up')).toBe('1');
    expect(metric('redis_connected_clients')).toBe('2'); // ours and the exporter's
    expect(metric('redis_db_keys\\{db="db0"\\}')).toBe('2');
    expect(metric('redis_db_keys_expiring\\{db="db0"\\}')).toBe('1');
    expect(Number(metric('redis_commands_processed_total'))).toBeGreaterThanOrEqual(2);
    expect(metrics).toMatch(/^redis_exporter_last_scrape_error\{err=""\} 0$/m);
    expect(metrics).toMatch(/^redis_instance_info\{.*redis_version="7\.0\.15".*role="master".*\} 1$/m);
  });
});
