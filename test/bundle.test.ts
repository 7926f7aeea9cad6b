import { readFileSync, statSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { etcdClusterFixture, haveEtcd } from './helpers/etcd-cluster.js';
import { MAIN, processFixture } from './helpers/process.js';

/**
 * `kv-server` and `npm start` run dist/src/kv-server.js, the single-file bundle that
 * `npm run build` makes of dist/src/main.js (scripts/bundle-server.mjs). The files the
 * server opens by path at run time must be found from the bundle as from dist/src/:
 * the native UDP module, the web console, the snapshot worker, the gateway engines' chunk.
 */
describe('the bundled kv-server', () => {
  const fixture = processFixture();

  it('is what the package runs, and is no older than the tsc output it is made of', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { bin: Record<string, string>; scripts: Record<string, string> };
    expect(path.resolve(pkg.bin['kv-server'] as string)).toBe(MAIN);
    expect(pkg.scripts.start).toBe('node dist/src/kv-server.js');
    const bundled = statSync(MAIN).mtimeMs;
    const newer: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const full = path.join(dir, name);
        if (name === 'kv-server-chunks') continue;
        if (statSync(full).isDirectory()) walk(full);
        else if (name.endsWith('.js') && full !== MAIN && statSync(full).mtimeMs > bundled) newer.push(full);
      }
    };
    walk(path.dirname(MAIN));
    expect(newer, 'run npm run build: the bundle is older than these').toEqual([]);
  });

  it('finds the native UDP module, the web console and the snapshot worker, and loads its snapshot again', async () => {
    const args = ['--http-port', '0', '--udp-io', 'batched', '--no-log-ops'];
    const { proc: first, dir } = fixture.start(args);
    const { tcpPort } = await first.listening();
    const listening = first.find('listening').find((l) => 'tcpPort' in l) as { udpIo: string; httpPort: number };
    expect(listening.udpIo).toBe('batched');
    const page = await fetch(`http://127.0.0.1:${listening.httpPort}/ui/`);
    expect([page.status, page.headers.get('content-type')]).toEqual([200, 'text/html; charset=utf-8']);
    expect(await page.text()).toContain('<html');

    const r = new Redis({ port: tcpPort, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
    await r.connect();
    await r.set('bundled', 'yes');
    expect(await r.save()).toBe('OK');
    r.disconnect();
    await first.kill(); // SIGKILL: the key is back from the snapshot alone

    const { proc: second } = fixture.start(args, { dir });
    const again = await second.listening();
    const loaded = second.find('data loaded')[0] as { snapshotKeys: number };
    expect(loaded.snapshotKeys).toBe(1);
    const r2 = new Redis({ port: again.tcpPort, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
    await r2.connect();
    expect(await r2.get('bundled')).toBe('yes');
    r2.disconnect();
  });

  // The engines' client libraries stay in node_modules (scripts/bundle-server.mjs): bundled,
  // @grpc/grpc-js failed on its first request, since it finds its files through __dirname.
  const etcd = etcdClusterFixture();
  it.skipIf(!haveEtcd())('loads the etcd gateway engine from its chunk and serves through a real etcd', async () => {
    const cluster = await etcd.start({ members: 1 });
    const { proc } = fixture.start(['--backend', 'etcd', '--etcd-endpoints', cluster.endpoints.join(','), '--etcd-prefix', 'bundle/']);
    const { tcpPort } = await proc.listening();
    // A gateway listens before its engine answers, and refuses commands (CLUSTERDOWN) until then.
    await proc.until((lines) => lines.some((l) => l.msg === 'backend reachable: the gateway is ready'), 'the gateway to reach etcd');
    const r = new Redis({ port: tcpPort, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
    await r.connect();
    expect(await r.set('through', 'etcd')).toBe('OK');
    expect(await r.get('through')).toBe('etcd');
    r.disconnect();
    expect(await cluster.etcdctl(['get', '--print-value-only', 'bundle/through'])).toContain('etcd');
  });
});
