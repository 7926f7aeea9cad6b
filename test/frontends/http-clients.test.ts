import { describe, expect, it } from 'vitest';
import { serverFixture } from '../helpers/server.js';
import { RawClient } from '../helpers/socket.js';
import { multibulk, respReplies } from './resp-reader.js';

const MiB = 1024 * 1024;

/** An HTTP connection is a client as a TCP one is: CLIENT LIST, CLIENT KILL, connected_clients, --maxmemory-clients, --max-connections. */
describe('HTTP connections as clients', () => {
  const fx = serverFixture();

  /** A raw keep-alive HTTP/1.1 connection that has had one answer (so the server has seen it). */
  async function httpClient(port: number, path = '/v1/kv/x'): Promise<RawClient> {
    const c = await RawClient.connect(port);
    c.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    await c.until((r) => /\r\n\r\n[\s\S]*\}/.test(r));
    return c;
  }

  async function clientList(tcp: RawClient): Promise<string[]> {
    tcp.clear();
    tcp.write(multibulk('CLIENT', 'LIST'));
    const [list] = (await respReplies(tcp, 1)) as [string];
    return list.split('\n').filter((l) => l !== '');
  }

  it('lists an HTTP keep-alive connection in CLIENT LIST with its address and last command, counts it in connected_clients, and forgets it when it closes', async () => {
    const srv = await fx.start({ httpPort: 0 });
    const tcp = await fx.connect();
    const http = await httpClient(srv.server.httpPort);
    const addr = `127.0.0.1:${http.socket.localPort}`;
    const line = (await clientList(tcp)).find((l) => l.includes(` addr=${addr} `));
    expect(line).toBeDefined();
    expect(line).toMatch(/ cmd=getver /);
    expect(line).toMatch(new RegExp(` laddr=127\\.0\\.0\\.1:${srv.server.httpPort} `));
    expect(srv.server.ctx.info().clients?.connected_clients).toBe(2);
    const ids = (await clientList(tcp)).map((l) => Number(/^id=(\d+) /.exec(l)?.[1]));
    // One sequence of ids for TCP and HTTP clients.
    expect(new Set(ids).size).toBe(ids.length);

    http.close();
    await http.waitClosed();
    await expect.poll(async () => (await clientList(tcp)).some((l) => l.includes(` addr=${addr} `))).toBe(false);
    expect(srv.server.ctx.info().clients?.connected_clients).toBe(1);
  });

  it('CLIENT KILL ID closes an HTTP connection', async () => {
    const srv = await fx.start({ httpPort: 0 });
    const tcp = await fx.connect();
    const http = await httpClient(srv.server.httpPort);
    const line = (await clientList(tcp)).find((l) => l.includes(` addr=127.0.0.1:${http.socket.localPort} `)) ?? '';
    const id = /^id=(\d+) /.exec(line)?.[1] ?? '';
    expect(id).not.toBe('');
    tcp.clear();
    tcp.write(multibulk('CLIENT', 'KILL', 'ID', id));
    expect(await respReplies(tcp, 1)).toEqual([1]);
    await http.waitClosed();
    expect(http.closed).toBe(true);
  });

  it('--maxmemory-clients counts an HTTP body being read: the client sending the largest is cut, a TCP client goes on', async () => {
    const CAP = 2 * MiB;
    const srv = await fx.start({ httpPort: 0, limits: { maxValueSize: 64 * MiB }, memory: { policy: 'noeviction', samples: 5, maxmemory: 0, maxmemoryClients: CAP } });
    const tcp = await fx.connect();
    const put = await RawClient.connect(srv.server.httpPort);
    put.write(`PUT /v1/kv/big HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${32 * MiB}\r\n\r\n`);
    // Bounded: at most 32 chunks of 256 KiB (8 MiB), stopping once the server cuts the connection.
    const chunk = Buffer.alloc(256 * 1024, 0x61);
    for (let i = 0; i < 32 && !put.closed; i++) {
      if (!put.socket.write(chunk)) await Promise.race([new Promise((r) => put.socket.once('drain', r)), put.waitClosed()]);
    }
    await put.waitClosed();
    const line = await srv.logs.waitFor('client memory limit reached (--maxmemory-clients); disconnecting the client holding the most');
    expect(line.bytes as number).toBeGreaterThan(CAP - 256 * 1024);
    expect(srv.server.stats.evictedClients).toBe(1);
    expect(srv.server.memory.section().mem_clients_normal as number).toBeLessThan(CAP);
    // Nothing was stored, and the TCP client was not touched.
    tcp.write(multibulk('EXISTS', 'big'));
    expect(await respReplies(tcp, 1)).toEqual([0]);
  });

  it('an HTTP connection past --max-connections is closed and counted in rejected_connections', async () => {
    const srv = await fx.start({ httpPort: 0, limits: { maxConnections: 2 } });
    const a = await httpClient(srv.server.httpPort, '/livez');
    const b = await httpClient(srv.server.httpPort, '/livez');
    const c = await RawClient.connect(srv.server.httpPort);
    c.write('GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await c.waitClosed();
    expect(c.received).toBe('');
    expect(srv.server.stats.connectionsRejected).toBe(1);
    await srv.logs.waitFor('connection refused: max connections reached');
    // The two within the limit are still served.
    for (const k of [a, b]) {
      k.clear();
      k.write('GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      expect(await k.until((r) => r.includes('"status":"ok"'))).toMatch(/^HTTP\/1\.1 200 /);
    }
  });
});
