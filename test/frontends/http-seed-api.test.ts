import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { request } from './resp-reader.js';
import { serverFixture, type TestServer } from '../helpers/server.js';
import { RawClient } from '../helpers/socket.js';
import { isSeedPath, RESERVED_SEGMENTS } from '../../src/frontends/http/seed-routes.js';

/**
 * The seed's API (issue 13 point 3, docs/HTTP.md §8) over real HTTP to a server on
 * port 0: POST /{key} with {"value": "…"}, GET /{key} → {"value": "…"}, DELETE /{key},
 * errors as {"error": "…", "code": …}, over the same store as RESP and /v1/kv/.
 */

const JSON_TYPE = 'application/json; charset=utf-8';
const json = { 'Content-Type': 'application/json' };

describe('HTTP seed API /{key}', () => {
  const fx = serverFixture();
  const start = (limits = {}) => fx.start({ httpPort: 0, limits });
  const url = (srv: TestServer, p: string) => `http://127.0.0.1:${srv.server.httpPort}${p}`;
  const post = (srv: TestServer, p: string, body: string, headers: Record<string, string> = json) => fetch(url(srv, p), { method: 'POST', body, headers });

  it('POST stores {"value"} (201 new, 200 replaced), GET answers {"value"} as JSON, DELETE removes it; a missing key is 404 {"error"}', async () => {
    const srv = await start();
    const created = await post(srv, '/greeting', JSON.stringify({ value: 'hello' }));
    expect(created.status).toBe(201);
    expect(created.headers.get('content-type')).toBe(JSON_TYPE);
    const first = (await created.json()) as { created: boolean; version: string };
    expect(first).toEqual({ created: true, version: expect.stringMatching(/^[1-9][0-9]*$/) as unknown as string });
    const replaced = await post(srv, '/greeting', JSON.stringify({ value: 'hello again' }));
    expect(replaced.status).toBe(200);
    const second = (await replaced.json()) as { created: boolean; version: string };
    expect(second.created).toBe(false);
    expect(BigInt(second.version)).toBeGreaterThan(BigInt(first.version));

    const got = await fetch(url(srv, '/greeting'));
    expect([got.status, got.headers.get('content-type'), got.headers.get('x-dualkv-version')]).toEqual([200, JSON_TYPE, second.version]);
    expect(await got.json()).toEqual({ value: 'hello again' });
    const head = await fetch(url(srv, '/greeting'), { method: 'HEAD' });
    expect([head.status, head.headers.get('content-length'), await head.text()]).toEqual([200, String(JSON.stringify({ value: 'hello again' }).length), '']);

    const deleted = await fetch(url(srv, '/greeting'), { method: 'DELETE' });
    expect([deleted.status, await deleted.json()]).toEqual([200, { deleted: true }]);
    expect(srv.server.backend.get('greeting')).toBeUndefined();
    for (const method of ['GET', 'DELETE']) {
      const missing = await fetch(url(srv, '/greeting'), { method });
      expect([missing.status, missing.headers.get('content-type')]).toEqual([404, JSON_TYPE]);
      expect(await missing.json()).toEqual({ error: 'key not found', code: 'NOT_FOUND' });
    }
  });

  it('is the same store as RESP and /v1/kv/: text is stored as its UTF-8 bytes and read back the same', async () => {
    const srv = await start();
    const text = 'ünïcode ✓ 😀 "quoted" \\ back\nslash';
    expect((await post(srv, '/t', JSON.stringify({ value: text }))).status).toBe(201);
    const c = await RawClient.connect(srv.tcpPort);
    expect((await request(c, 'GET', 't')).value).toBe(Buffer.from(text, 'utf8').toString('latin1'));
    await request(c, 'SET', 'from-resp', Buffer.from('über', 'utf8').toString('latin1'));
    c.close();
    expect(await (await fetch(url(srv, '/from-resp'))).json()).toEqual({ value: 'über' });
    const raw = Buffer.from(await (await fetch(url(srv, '/v1/kv/t'))).arrayBuffer());
    expect(raw.equals(Buffer.from(text, 'utf8'))).toBe(true);
    // The empty string is a value like any other.
    expect((await post(srv, '/empty', '{"value": ""}')).status).toBe(201);
    expect(await (await fetch(url(srv, '/empty'))).json()).toEqual({ value: '' });
  });

  it('a value that is not valid UTF-8 is 406 NOT_UTF8, pointing to /v1/kv/, and stays as it was', async () => {
    const srv = await start();
    const bytes = Buffer.from([0x66, 0xff, 0xfe, 0x00]);
    expect((await fetch(url(srv, '/v1/kv/bin'), { method: 'PUT', body: bytes })).status).toBe(201);
    const r = await fetch(url(srv, '/bin'));
    expect(r.status).toBe(406);
    const body = (await r.json()) as { error: string; code: string };
    expect(body.code).toBe('NOT_UTF8');
    expect(body.error).toContain('/v1/kv/');
    expect(Buffer.from(await (await fetch(url(srv, '/v1/kv/bin'))).arrayBuffer()).equals(bytes)).toBe(true);
  });

  it('refuses bodies it cannot store as they are, with 400 and a message, and stores nothing', async () => {
    const srv = await start();
    const cases: Array<[string, RegExp]> = [
      ['not json', /not JSON/],
      ['["value"]', /no "value"/],
      ['{"val": "x"}', /no "value"/],
      ['null', /no "value"/],
      ['{"value": 42}', /a number/],
      ['{"value": null}', /not null/],
      ['{"value": {"a": 1}}', /an object/],
      ['{"value": ["a"]}', /an array/],
      ['{"value": "\\ud800 lone"}', /lone UTF-16 surrogate/],
      ['{"value": "trunc', /not JSON/],
    ];
    for (const [body, message] of cases) {
      const r = await post(srv, '/k', body);
      expect(r.status, body).toBe(400);
      const got = (await r.json()) as { error: string; code: string };
      expect(got.code, body).toBe('BAD_REQUEST');
      expect(got.error, body).toMatch(message);
    }
    // A surrogate pair is a character like any other.
    expect((await post(srv, '/pair', '{"value": "\\ud83d\\ude00"}')).status).toBe(201);
    expect(await (await fetch(url(srv, '/pair'))).json()).toEqual({ value: '😀' });
    expect(srv.server.backend.get('k')).toBeUndefined();
  });

  it('takes only application/json bodies (415 otherwise, and the connection closes), so that a page of another site cannot post without asking', async () => {
    const srv = await start();
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const r = await post(srv, '/k', '{"value": "x"}', { 'Content-Type': type });
      expect([r.status, r.headers.get('connection')], type).toEqual([415, 'close']);
      expect(((await r.json()) as { code: string }).code).toBe('UNSUPPORTED_MEDIA_TYPE');
    }
    const untyped = await new Promise<number>((resolve, reject) => {
      const req = http.request(url(srv, '/k'), { method: 'POST', headers: { 'Content-Length': 14 } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end('{"value": "x"}');
    });
    expect(untyped).toBe(415);
    expect((await post(srv, '/k', '{"value": "y"}', { 'Content-Type': 'Application/JSON; charset=UTF-8' })).status).toBe(201);
    expect(srv.server.backend.get('k')).toMatchObject({ value: 'y' });
  });

  it('holds values to --max-value-size (413), and a body to twice that plus 1 KiB', async () => {
    const srv = await start({ maxValueSize: 100 });
    const over = await post(srv, '/k', JSON.stringify({ value: 'x'.repeat(101) }));
    expect(over.status).toBe(413);
    expect(((await over.json()) as { code: string }).code).toBe('VALUE_TOO_LARGE');
    // 100 two-byte characters are 200 bytes of UTF-8: the limit is in bytes.
    expect((await post(srv, '/k', JSON.stringify({ value: 'é'.repeat(51) }))).status).toBe(413);
    expect((await post(srv, '/k', JSON.stringify({ value: 'é'.repeat(50) }))).status).toBe(201);
    // Escapes take room in the body but not in the value: 100 tabs as \t are a 200-byte string.
    expect((await post(srv, '/tabs', JSON.stringify({ value: '\t'.repeat(100) }))).status).toBe(201);
    const huge = await post(srv, '/k', JSON.stringify({ value: 'x', pad: 'p'.repeat(2 * 100 + 1024) }));
    expect([huge.status, huge.headers.get('connection')]).toEqual([413, 'close']);
    expect(srv.server.backend.get('k')).toMatchObject({ value: Buffer.from('é'.repeat(50), 'utf8').toString('latin1') });
  });

  it('names a key by one path segment, percent-decoded as /v1/kv/ does; the server’s own routes keep their names', async () => {
    const srv = await start();
    const keys: Array<[string, string]> = [
      ['/with%20space', 'with space'],
      ['/100%25', '100%'],
      ['/a%2Fb', 'a/b'],
      ['/%FF%FE', '\xff\xfe'],
      ['/plus+sign', 'plus+sign'],
    ];
    for (const [p, key] of keys) {
      expect((await post(srv, p, '{"value": "v"}')).status, p).toBe(201);
      expect(srv.server.backend.get(key), p).toMatchObject({ value: 'v' });
      expect(await (await fetch(url(srv, p))).json(), p).toEqual({ value: 'v' });
    }
    const bad = await fetch(url(srv, '/bad%zz'));
    expect([bad.status, ((await bad.json()) as { code: string }).code]).toEqual([400, 'BAD_REQUEST']);
    // Two segments are no key of the seed's (Flask's <key> takes none with /): the API's 404.
    const deep = await fetch(url(srv, '/a/b'));
    expect(deep.status).toBe(404);
    expect(((await deep.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
    // The probes and the console are what they were; a key of such a name is reached under /v1/kv/.
    expect(await (await fetch(url(srv, '/livez'))).json()).toEqual({ status: 'ok' });
    expect((await fetch(url(srv, '/ui'), { redirect: 'manual' })).status).toBe(308);
    expect((await post(srv, '/livez', '{"value": "v"}')).status).toBe(405);
    expect(srv.server.backend.get('livez')).toBeUndefined();
    expect([...RESERVED_SEGMENTS].map((s) => isSeedPath(`/${s}`))).toEqual([false, false, false, false, false]);
    expect([isSeedPath('/'), isSeedPath('/k'), isSeedPath('/k/'), isSeedPath('/v1x')]).toEqual([false, true, false, true]);
  });

  it('answers 405 with Allow for other methods, and runs nothing', async () => {
    const srv = await start();
    for (const method of ['PUT', 'PATCH']) {
      const r = await fetch(url(srv, '/k'), { method, body: '{"value": "x"}', headers: json });
      expect([r.status, r.headers.get('allow')], method).toEqual([405, 'GET, HEAD, POST, DELETE']);
      expect(((await r.json()) as { code: string }).code).toBe('METHOD_NOT_ALLOWED');
    }
    expect(srv.server.backend.dbsize()).toBe(0);
  });
});

describe('HTTP seed API with credentials', () => {
  const fx = serverFixture();
  const dir = mkdtempSync(path.join(tmpdir(), 'dualkv-seed-auth-'));
  const usersFile = path.join(dir, 'users');
  writeFileSync(usersFile, 'app readwrite plain:app-pass-1\nro read plain:ro-pass-2\n', { mode: 0o600 });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('asks a Bearer token as /v1/ does: 401 without one, 403 for a read-only one writing', async () => {
    const srv = await fx.start({ httpPort: 0, auth: { usersFile, requirepass: null, protectedMode: true } });
    const u = `http://127.0.0.1:${srv.server.httpPort}/k`;
    const none = await fetch(u, { method: 'POST', body: '{"value": "v"}', headers: json });
    expect([none.status, none.headers.get('www-authenticate')]).toEqual([401, 'Bearer realm="dualkv"']);
    const ro = await fetch(u, { method: 'POST', body: '{"value": "v"}', headers: { ...json, Authorization: 'Bearer ro:ro-pass-2' } });
    expect([ro.status, ((await ro.json()) as { code: string }).code]).toEqual([403, 'NO_PERM']);
    expect(srv.server.backend.dbsize()).toBe(0);
    const ok = await fetch(u, { method: 'POST', body: '{"value": "v"}', headers: { ...json, Authorization: 'Bearer app:app-pass-1' } });
    expect(ok.status).toBe(201);
    expect(await (await fetch(u, { headers: { Authorization: 'Bearer ro:ro-pass-2' } })).json()).toEqual({ value: 'v' });
  });
});
