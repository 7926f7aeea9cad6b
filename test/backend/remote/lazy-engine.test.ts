import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const dist = path.resolve('dist/src');

const ENGINE_LIBRARIES = ['etcd3', 'ioredis', '@grpc/grpc-js'];

/** Which of `libraries` a fresh process has loaded after starting a server with `backend` (and `more` config). */
async function loadedAfterStart(backend: string, libraries = ENGINE_LIBRARIES, more = '{}'): Promise<string[]> {
  const script = `
    import { createRequire } from 'node:module';
    import { KvServer } from ${JSON.stringify(path.join(dist, 'server.js'))};
    import { defaultConfig } from ${JSON.stringify(path.join(dist, 'config.js'))};
    import pino from 'pino';
    const backend = ${backend};
    const server = new KvServer({ ...defaultConfig(), ...${more}, host: '127.0.0.1', tcpPort: 0, udpPort: 0, logLevel: 'silent', backend, persistence: { ...defaultConfig().persistence, enabled: false } }, pino({ level: 'silent' }));
    await server.start();
    await new Promise((r) => setTimeout(r, 300));
    const cache = Object.keys(createRequire(import.meta.url).cache);
    console.log(JSON.stringify(${JSON.stringify(libraries)}.filter((m) => cache.some((k) => k.includes('/node_modules/' + m + '/')))));
    await server.stop();
  `;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: process.cwd(), timeout: 20_000 });
  return JSON.parse(stdout.trim().split('\n').pop() as string) as string[];
}

/** src/backend/remote/lazy-engine.ts: a server of its own never loads the engines' client libraries. */
describe('engine client libraries load only for a gateway', () => {
  it('--backend memory loads neither etcd3 (with gRPC) nor ioredis', async () => {
    expect(await loadedAfterStart(`{ kind: 'memory' }`)).toEqual([]);
  });

  it('--backend etcd loads etcd3 (and gRPC), not ioredis, even with etcd down', async () => {
    expect(await loadedAfterStart(`{ kind: 'etcd', etcd: { endpoints: ['127.0.0.1:1'], prefix: 'lazy/' } }`)).toEqual(['etcd3', '@grpc/grpc-js']);
  });
});

/** src/server.ts: the HTTP front-end's code, and prom-client behind /metrics, load only with an HTTP port. */
describe('HTTP code loads only with an HTTP port', () => {
  it('without --http-port, prom-client is not loaded; with it, it is', async () => {
    expect(await loadedAfterStart(`{ kind: 'memory' }`, ['prom-client'])).toEqual([]);
    expect(await loadedAfterStart(`{ kind: 'memory' }`, ['prom-client'], `{ httpPort: 0 }`)).toEqual(['prom-client']);
  });
});
