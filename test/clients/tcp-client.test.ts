import { afterEach, describe, expect, it } from 'vitest';
import { ServerReplyError } from '../../clients/lib/resp-reply.js';
import { TcpClient } from '../../clients/lib/tcp-client.js';
import { KvError } from '../../src/errors.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeServer, freePort } from './tcp-helpers.js';

let server: TestServer | null = null;
let fake: FakeServer | null = null;
const clients: TcpClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await server?.stop();
  await fake?.stop();
  server = null;
  fake = null;
});

async function connectTo(port: number, timeoutMs = 10_000): Promise<TcpClient> {
  const c = await TcpClient.connect({ port, timeoutMs });
  clients.push(c);
  return c;
}

async function realServer(overrides: Parameters<typeof startTestServer>[0] = {}): Promise<TcpClient> {
  server = await startTestServer({ logOps: false, ...overrides });
  return connectTo(server.tcpPort);
}

/** Resolves with the error a promise rejects with; fails the test if it resolves. */
async function rejection(p: Promise<unknown>): Promise<KvError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(KvError);
    return err as KvError;
  }
  throw new Error('expected a rejection');
}

describe('TcpClient against a real server', () => {
  it('puts, gets, deletes, pings and reads stats', async () => {
    const c = await realServer();
    expect(await c.ping()).toBe('PONG');
    expect(await c.ping('hi')).toBe('hi');
    expect(await c.get('k')).toBeNull();
    await c.put('k', 'v1');
    expect(await c.get('k')).toEqual(Buffer.from('v1'));
    await c.set('k', 'v2');
    expect(await c.get('k')).toEqual(Buffer.from('v2'));
    expect(await c.exists(['k', 'nope'])).toBe(1);
    expect(await c.del('k')).toBe(1);
    expect(await c.del('k')).toBe(0);
    const stats = await c.stats();
    expect(stats.server?.dualkv_version).toBeTypeOf('string');
    expect(stats.keyspace).toEqual({}); // as Redis: no db0 line while the database is empty
    expect(await c.info('keyspace')).toBe('# Keyspace\r\n');
    expect(await c.command(['DBSIZE'])).toBe(0);
  });

  it('keeps every byte of binary keys and values, CR, LF and NUL included', async () => {
    const c = await realServer();
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const value = Buffer.concat([all, Buffer.from('\r\n\r\nline\n'), all]);
    const key = Buffer.from([0, 13, 10, 255, 32]);
    await c.set(key, value);
    expect((await c.get(key))?.equals(value)).toBe(true);
    expect(await c.get(Buffer.from([0, 13, 10, 255]))).toBeNull();
  });

  it('sends a value larger than one TCP segment and reads it back whole', async () => {
    const c = await realServer();
    const value = Buffer.alloc(700_000);
    for (let i = 0; i < value.length; i++) value[i] = (i * 31) & 0xff;
    await c.set('big', value);
    expect((await c.get('big'))?.equals(value)).toBe(true);
  });

  it('pipelines many requests and matches each reply to its own request', async () => {
    const c = await realServer();
    const n = 2000;
    const writes = Array.from({ length: n }, (_, i) => c.set(`key:${i % 50}`, `value:${i}`));
    const reads = Array.from({ length: 50 }, (_, k) => c.get(`key:${k}`));
    // All were sent before any reply could be read: the client had them all in flight at once.
    expect(c.inFlight).toBe(n + 50);
    await Promise.all(writes);
    const values = await Promise.all(reads);
    // Each key's last write is the one in the final round of 50.
    values.forEach((v, k) => expect(v?.toString()).toBe(`value:${n - 50 + k}`));
    expect(c.inFlight).toBe(0);
  });

  it('rejects only the request that got an error reply; the pipeline goes on', async () => {
    const c = await realServer({ limits: { maxValueSize: 8 } });
    const [a, b, d] = await Promise.allSettled([c.set('a', '1'), c.set('b', '123456789'), c.command(['NOSUCH', 'x'])]);
    expect(a.status).toBe('fulfilled');
    expect(b.status).toBe('rejected');
    const err = (b as PromiseRejectedResult).reason as ServerReplyError;
    expect(err).toBeInstanceOf(ServerReplyError);
    expect(err.code).toBe('SERVER');
    expect(err.prefix).toBe('ERR');
    expect(err.message).toMatch(/over the limit/);
    expect(((d as PromiseRejectedResult).reason as KvError).code).toBe('SERVER');
    expect(await c.get('a')).toEqual(Buffer.from('1'));
  });

  it('close() waits for the replies already asked for', async () => {
    const c = await realServer();
    const put = c.set('k', 'v');
    const got = c.get('k');
    await c.close();
    await put;
    expect(await got).toEqual(Buffer.from('v'));
    expect(c.closed).toBe(true);
    expect((await rejection(c.ping())).code).toBe('CONNECTION');
  });
});

describe('TcpClient failures carry stable codes', () => {
  it('CONNECTION when nothing listens on the port', async () => {
    const port = await freePort();
    const err = await rejection(TcpClient.connect({ port, timeoutMs: 5000 }));
    expect(err.code).toBe('CONNECTION');
    expect(err.message).toContain(`127.0.0.1:${port}`);
  });

  it('TIMEOUT when the server reads but never answers', async () => {
    fake = await FakeServer.start();
    const c = await connectTo(fake.port, 50);
    const err = await rejection(c.get('k'));
    expect(err.code).toBe('TIMEOUT');
    expect(err.message).toMatch(/no reply to GET/);
    // The request did reach the server; it was the answer that never came.
    expect(fake.received.toString()).toBe('*2\r\n$3\r\nGET\r\n$1\r\nk\r\n');
  });

  it("a late reply to a timed-out request is dropped, never handed to the next request", async () => {
    fake = await FakeServer.start();
    const c = await connectTo(fake.port, 0);
    const first = c.command(['PING', 'first'], { timeoutMs: 20 });
    expect((await rejection(first)).code).toBe('TIMEOUT');
    const second = c.command(['PING', 'second']);
    await fake.until((r) => r.includes('second'));
    // Now the server answers both, in order.
    fake.sockets[0]?.write('$5\r\nfirst\r\n$6\r\nsecond\r\n');
    expect(await second).toEqual(Buffer.from('second'));
  });

  it('CONNECTION for every request in flight when the server drops the connection', async () => {
    fake = await FakeServer.start((socket) => socket.destroy());
    const c = await connectTo(fake.port);
    const errs = await Promise.all([rejection(c.get('a')), rejection(c.get('b'))]);
    expect(errs.map((e) => e.code)).toEqual(['CONNECTION', 'CONNECTION']);
    expect(c.closed).toBe(true);
    expect((await rejection(c.ping())).code).toBe('CONNECTION');
  });

  it('PROTOCOL when the server answers with bytes that are not RESP', async () => {
    fake = await FakeServer.start((socket) => socket.write('HTTP/1.1 400 Bad Request\r\n\r\n'));
    const c = await connectTo(fake.port);
    const err = await rejection(c.ping());
    expect(err.code).toBe('PROTOCOL');
    expect(c.closed).toBe(true);
  });

  it('PROTOCOL when the server sends a reply nobody asked for', async () => {
    fake = await FakeServer.start((socket) => socket.write('+OK\r\n+EXTRA\r\n'));
    const c = await connectTo(fake.port);
    expect(await c.command(['PING'])).toBe('OK');
    await c.whenClosed();
    expect((await rejection(c.ping())).code).toBe('PROTOCOL');
  });

  it('PROTOCOL when a reply has the wrong shape for the command', async () => {
    fake = await FakeServer.start((socket) => socket.write(':1\r\n'));
    const c = await connectTo(fake.port);
    expect((await rejection(c.get('k'))).code).toBe('PROTOCOL');
  });
});
