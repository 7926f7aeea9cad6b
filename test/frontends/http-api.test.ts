import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { request } from './resp-reader.js';
import { serverFixture, type TestServer } from '../helpers/server.js';
import { RawClient } from '../helpers/socket.js';
import { decodeKeyPath, encodeKeyPath } from '../../src/frontends/http/http-keys.js';

/**
 * The HTTP API (issue 13, docs/HTTP.md) over real HTTP to a server on port 0: every
 * route and status, conditional requests, binary values and odd keys byte for byte,
 * limits and malformed requests, and one store shared with RESP.
 */

describe('HTTP /v1/kv', () => {
  const fx = serverFixture();
  const start = (limits = {}) => fx.start({ httpPort: 0, limits });
  const base = (srv: TestServer) => `http://127.0.0.1:${srv.server.httpPort}`;
  const url = (srv: TestServer, key: string, query = '') => `${base(srv)}/v1/kv/${encodeKeyPath(key)}${query}`;

  it('PUT stores the raw body (201 new, 200 replaced, the version as ETag); GET answers it as octet-stream with its version; HEAD the same without a body', async () => {
    const srv = await start();
    const put1 = await fetch(url(srv, 'k'), { method: 'PUT', body: 'hello world' });
    expect(put1.status).toBe(201);
    expect(put1.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const v1 = (await put1.json()) as { version: string; created: boolean };
    expect(v1).toEqual({ version: expect.stringMatching(/^[1-9][0-9]*$/) as unknown as string, created: true });
    expect(put1.headers.get('etag')).toBe(`"${v1.version}"`);
    const put2 = await fetch(url(srv, 'k'), { method: 'PUT', body: 'again' });
    expect(put2.status).toBe(200);
    const v2 = (await put2.json()) as { version: string };
    expect(BigInt(v2.version)).toBeGreaterThan(BigInt(v1.version));
    const got = await fetch(url(srv, 'k'));
    expect(got.status).toBe(200);
    expect(got.headers.get('content-type')).toBe('application/octet-stream');
    expect(got.headers.get('x-content-type-options')).toBe('nosniff');
    expect(got.headers.get('etag')).toBe(`"${v2.version}"`);
    expect(got.headers.get('x-dualkv-expires-at')).toBeNull();
    expect(await got.text()).toBe('again');
    const head = await fetch(url(srv, 'k'), { method: 'HEAD' });
    expect([head.status, head.headers.get('content-length'), head.headers.get('etag'), await head.text()]).toEqual([200, '5', `"${v2.version}"`, '']);
  });

  it('a missing key is 404 with a JSON error from the registry; so is an unknown route', async () => {
    const srv = await start();
    const r = await fetch(url(srv, 'nope'));
    expect(r.status).toBe(404);
    expect(r.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await r.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'no such key' } });
    const other = await fetch(`${base(srv)}/v2/kv/x`);
    expect(other.status).toBe(404);
    expect(((await other.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
  });

  it('stores any bytes as values and keys: binary values byte for byte, keys with /, spaces, % and non-UTF-8 bytes; the same key over RESP', async () => {
    const srv = await start();
    const value = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const keys = ['a/b/c', 'with space', '100%', '\xff\xfe binary', 'ünïcode'];
    for (const key of keys) {
      const encoded = encodeKeyPath(Buffer.from(key, 'utf8').toString('latin1'));
      expect((await fetch(`${base(srv)}/v1/kv/${encoded}`, { method: 'PUT', body: value })).status).toBe(201);
      const back = Buffer.from(await (await fetch(`${base(srv)}/v1/kv/${encoded}`)).arrayBuffer());
      expect(back.equals(value), key).toBe(true);
    }
    // `/` may stay raw or be %2F: the same key. And RESP sees the very bytes.
    expect(await (await fetch(`${base(srv)}/v1/kv/a%2Fb%2Fc`)).arrayBuffer().then((b) => Buffer.from(b).equals(value))).toBe(true);
    const c = await RawClient.connect(srv.tcpPort);
    expect((await request(c, 'EXISTS', 'a/b/c', 'with space', '100%', Buffer.from('ünïcode', 'utf8').toString('latin1'))).value).toBe(4);
    c.close();
    // A % not followed by two hex digits is refused.
    const bad = await fetch(`${base(srv)}/v1/kv/bad%zz`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('BAD_REQUEST');
  });

  it('If-None-Match: * stores only a new key, If-Match: "v" only that version; a failed condition is 412 with the current version', async () => {
    const srv = await start();
    const create = await fetch(url(srv, 'k'), { method: 'PUT', body: 'a', headers: { 'If-None-Match': '*' } });
    expect(create.status).toBe(201);
    const { version } = (await create.json()) as { version: string };
    const again = await fetch(url(srv, 'k'), { method: 'PUT', body: 'b', headers: { 'If-None-Match': '*' } });
    expect(again.status).toBe(412);
    expect(await again.json()).toEqual({ error: { code: 'PRECONDITION_FAILED', message: `the condition does not hold: the key's version is ${version}`, version } });
    expect(again.headers.get('etag')).toBe(`"${version}"`);
    const stale = await fetch(url(srv, 'k'), { method: 'PUT', body: 'c', headers: { 'If-Match': '"999999"' } });
    expect(stale.status).toBe(412);
    const ok = await fetch(url(srv, 'k'), { method: 'PUT', body: 'd', headers: { 'If-Match': `"${version}"` } });
    expect(ok.status).toBe(200);
    expect(await (await fetch(url(srv, 'k'))).text()).toBe('d');
    const absent = await fetch(url(srv, 'nope'), { method: 'PUT', body: 'x', headers: { 'If-Match': '*' } });
    expect([absent.status, ((await absent.json()) as { error: { version: string } }).error.version]).toEqual([412, '0']);
    for (const [h, v] of [['If-Match', 'W/"1"'], ['If-Match', '1'], ['If-None-Match', '"1"']] as const) {
      const r = await fetch(url(srv, 'k'), { method: 'PUT', body: 'x', headers: { [h]: v } });
      expect(r.status, `${h}: ${v}`).toBe(400);
    }
  });

  it('exactly one of many concurrent conditional PUTs on the same version wins', async () => {
    const srv = await start();
    const { version } = (await (await fetch(url(srv, 'hot'), { method: 'PUT', body: '0' })).json()) as { version: string };
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => fetch(url(srv, 'hot'), { method: 'PUT', body: String(i + 1), headers: { 'If-Match': `"${version}"` } }).then((r) => r.status)),
    );
    expect(results.filter((s) => s === 200)).toHaveLength(1);
    expect(results.filter((s) => s === 412)).toHaveLength(39);
  });

  it('DELETE is 204 or 404, and with If-Match deletes only that version (412 otherwise)', async () => {
    const srv = await start();
    const { version } = (await (await fetch(url(srv, 'k'), { method: 'PUT', body: 'v' })).json()) as { version: string };
    expect((await fetch(url(srv, 'k'), { method: 'DELETE', headers: { 'If-Match': '"1234567"' } })).status).toBe(412);
    expect((await fetch(url(srv, 'k'), { method: 'DELETE', headers: { 'If-Match': `"${version}"` } })).status).toBe(204);
    expect((await fetch(url(srv, 'k'), { method: 'DELETE' })).status).toBe(404);
    await fetch(url(srv, 'k'), { method: 'PUT', body: 'v' });
    expect((await fetch(url(srv, 'k'), { method: 'DELETE' })).status).toBe(204);
  });

  it('ttl and ttl_ms set an expiry, shown in X-Dualkv-Expires-At; a bad one is 400', async () => {
    const srv = await start();
    const before = Date.now();
    expect((await fetch(url(srv, 'k', '?ttl=100'), { method: 'PUT', body: 'v' })).status).toBe(201);
    const at = Number((await fetch(url(srv, 'k'))).headers.get('x-dualkv-expires-at'));
    expect(at).toBeGreaterThanOrEqual(before + 100_000);
    expect(at).toBeLessThanOrEqual(Date.now() + 100_000);
    expect((await fetch(url(srv, 'k2', '?ttl_ms=1500'), { method: 'PUT', body: 'v' })).status).toBe(201);
    const c = await RawClient.connect(srv.tcpPort);
    expect(Number((await request(c, 'PTTL', 'k2')).value)).toBeGreaterThan(1000);
    c.close();
    for (const q of ['?ttl=0', '?ttl=-1', '?ttl=abc', '?ttl=1&ttl_ms=1']) expect((await fetch(url(srv, 'k', q), { method: 'PUT', body: 'v' })).status, q).toBe(400);
  });

  it('a value over --max-value-size is 413, and nothing is stored', async () => {
    const srv = await start({ maxValueSize: 1024 });
    const r = await fetch(url(srv, 'big'), { method: 'PUT', body: 'x'.repeat(1025) });
    expect(r.status).toBe(413);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('VALUE_TOO_LARGE');
    expect(srv.server.backend.dbsize()).toBe(0);
    expect((await fetch(url(srv, 'ok'), { method: 'PUT', body: 'x'.repeat(1024) })).status).toBe(201);
  });

  it('lists keys by prefix, a page at a time, every key once, with a cursor to go on from', async () => {
    const srv = await start();
    const c = await RawClient.connect(srv.tcpPort);
    const words = ['MSET'];
    for (let i = 0; i < 250; i++) words.push(`user:${i}`, 'v');
    words.push('other', 'v', 'user*star', 'v');
    await request(c, ...words);
    c.close();
    /** Every key a listing returns, page by page. */
    const listAll = async (prefix: string, limit: number) => {
      const listed: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const q: string = `?prefix=${prefix}&limit=${limit}${cursor === null ? '' : `&cursor=${cursor}`}`;
        const page = (await (await fetch(`${base(srv)}/v1/kv/${q}`)).json()) as { keys: string[]; cursor: string | null };
        listed.push(...page.keys.map((k) => decodeKeyPath(k) as string));
        cursor = page.cursor;
        pages++;
      } while (cursor !== null && pages < 1000);
      return { listed: listed.sort(), pages };
    };
    const users = await listAll('user%3A', 20);
    expect(users.listed).toEqual(Array.from({ length: 250 }, (_, i) => `user:${i}`).sort());
    expect(users.pages).toBeGreaterThan(10);
    // A prefix is a prefix: glob characters in it match only themselves.
    expect((await listAll('user*', 100)).listed).toEqual(['user*star']);
    const bad = await fetch(`${base(srv)}/v1/kv?limit=0`);
    expect(bad.status).toBe(400);
    expect((await fetch(`${base(srv)}/v1/kv?cursor=12345`)).status).toBe(400);
    expect((await fetch(`${base(srv)}/v1/kv`, { method: 'POST' })).status).toBe(405);
  });

  it('every request is an op line and a command in INFO, as over TCP', async () => {
    const srv = await start();
    await fetch(url(srv, 'k'), { method: 'PUT', body: 'abc' });
    await fetch(url(srv, 'k'));
    await fetch(url(srv, 'nope'), { method: 'DELETE' });
    const ops = srv.logs.find('op').map((l) => [l.transport, l.cmd, l.outcome]);
    expect(ops).toEqual([
      ['http', 'PUT', 'ok'],
      ['http', 'GETVER', 'ok'],
      ['http', 'DEL', 'not_found'],
    ]);
    expect(srv.server.ctx.info().commandstats?.cmdstat_put).toMatch(/^calls=1,/);
  });

  it('answers a method a key does not take with 405 and Allow', async () => {
    const srv = await start();
    const r = await fetch(url(srv, 'k'), { method: 'PATCH', body: 'x' });
    expect(r.status).toBe(405);
    expect(r.headers.get('allow')).toBe('GET, HEAD, PUT, DELETE');
  });

  it('a request node:http cannot read gets a JSON 400 and the connection closes; others keep their keep-alive connection', async () => {
    const srv = await start();
    const reply = await new Promise<string>((resolve) => {
      const s = net.connect(srv.server.httpPort, '127.0.0.1', () => s.write('GARBAGE / NOT-HTTP\r\n\r\n'));
      let got = '';
      s.on('data', (d) => (got += d.toString()));
      s.on('close', () => resolve(got));
    });
    expect(reply).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(reply).toContain('"code":"BAD_REQUEST"');
    const r = await fetch(url(srv, 'k'));
    expect(r.headers.get('connection')).toBe('keep-alive');
  });
});

describe('HTTP slow and oversized requests', () => {
  const fx = serverFixture();
  /** Sends `bytes` on a raw connection and answers everything received until the server closes it. */
  const raw = (port: number, bytes: string) =>
    new Promise<string>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => s.write(bytes));
      let got = '';
      s.on('data', (d) => (got += d.toString()));
      s.on('close', () => resolve(got));
    });

  it('headers over 16 KiB are 431 HEADERS_TOO_LARGE, and the connection closes', async () => {
    const srv = await fx.start({ httpPort: 0 });
    const reply = await raw(srv.server.httpPort, `GET /v1/kv/k HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(reply).toMatch(/^HTTP\/1\.1 431 /);
    expect(reply).toContain('"code":"HEADERS_TOO_LARGE"');
  });

  it('a client that never finishes its headers gets 408 REQUEST_TIMEOUT and is closed', { timeout: 30_000 }, async () => {
    const srv = await fx.start({ httpPort: 0 });
    const reply = await raw(srv.server.httpPort, 'GET /v1/kv/k HTTP/1.1\r\nHost: x\r\n');
    expect(reply).toMatch(/^HTTP\/1\.1 408 /);
    expect(reply).toContain('"code":"REQUEST_TIMEOUT"');
  });
});

describe('HTTP probes', () => {
  const fx = serverFixture();

  it('/livez answers while the process runs; /readyz is 200 when writes are accepted and 503 with the reason when not', async () => {
    const srv = await fx.start({ httpPort: 0 });
    const base = `http://127.0.0.1:${srv.server.httpPort}`;
    expect([(await fetch(`${base}/livez`)).status, (await fetch(`${base}/readyz`)).status]).toEqual([200, 200]);
    const { KvError } = await import('../../src/errors.js');
    srv.server.backend.setSink({ writeBlocker: () => new KvError('READ_ONLY', 'writes are refused: the disk is full'), record: () => undefined, recordAll: () => undefined });
    const r = await fetch(`${base}/readyz`);
    expect([r.status, await r.json()]).toEqual([503, { status: 'not ready', reason: 'writes are refused: the disk is full' }]);
    expect((await fetch(`${base}/livez`)).status).toBe(200);
    expect((await fetch(`${base}/livez`, { method: 'POST' })).status).toBe(405);
  });
});
