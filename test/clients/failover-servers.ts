import { afterEach } from 'vitest';
import { TcpClient } from '../../clients/lib/tcp-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/** Servers for the clients' failover tests, stopped after each test, and a look at what one holds. */
export function failoverServers(): { server(): Promise<TestServer>; valueAt(s: TestServer, key: string): Promise<string | null> } {
  const servers: TestServer[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.stop();
  });
  return {
    async server() {
      const s = await startTestServer({ logOps: false });
      servers.push(s);
      return s;
    },
    async valueAt(s, key) {
      const c = await TcpClient.connect({ port: s.tcpPort });
      try {
        return (await c.get(key))?.toString('utf8') ?? null;
      } finally {
        await c.close();
      }
    },
  };
}
