import { Redis } from 'ioredis';
import { afterEach } from 'vitest';
import type { BackendConfig } from '../../src/backend/backend-config.js';
import { startTestServer, type TestServer, type TestServerOverrides } from './server.js';

/** A dualkv gateway in this process over a remote backend, and an ioredis client to it. */
export interface Gateway {
  readonly server: TestServer;
  readonly redis: Redis;
}

/**
 * Gateways for a describe block, stopped (with their clients) after each test. `start`
 * waits until the gateway's engine answers unless told not to (a test of a gateway
 * started before its engine); `overrides` sets more of the server's config.
 */
export function gatewayFixture(): { start(backend: BackendConfig, options?: { ready?: boolean; overrides?: TestServerOverrides }): Promise<Gateway> } {
  const open: Array<TestServer | Redis> = [];
  afterEach(async () => {
    for (const o of open.splice(0).reverse()) {
      if (o instanceof Redis) o.disconnect();
      else await o.stop();
    }
  });
  return {
    async start(backend, options = {}) {
      const server = await startTestServer({ logLevel: 'warn', ...options.overrides, backend });
      open.push(server);
      if (options.ready !== false) await until(() => server.server.store.writeBlocker() === null);
      const redis = new Redis({ port: server.tcpPort, host: '127.0.0.1', maxRetriesPerRequest: 0 });
      open.push(redis);
      return { server, redis };
    },
  };
}

/** Waits until `check` holds, looking every 50 ms; throws after `timeoutMs`. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`not so within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
