import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverFixture, type TestServer } from '../helpers/server.js';

/** Issue 14 point 3: Bearer tokens on the HTTP API (docs/HTTP.md §9). */
describe('authentication over HTTP', () => {
  const fx = serverFixture();
  const dir = mkdtempSync(path.join(tmpdir(), 'dualkv-auth-http-'));
  const usersFile = path.join(dir, 'users');
  beforeAll(() => writeFileSync(usersFile, 'app readwrite plain:app-pass-1\nro read plain:ro-pass-2\n', { mode: 0o600 }));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const start = (): Promise<TestServer> => fx.start({ httpPort: 0, auth: { usersFile, requirepass: null, protectedMode: true } });
  const url = (srv: TestServer, p: string) => `http://127.0.0.1:${srv.server.httpPort}${p}`;
  const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

  it('answers 401 with the Bearer challenge when the token is missing or wrong, and runs nothing', async () => {
    const srv = await start();
    const none = await fetch(url(srv, '/v1/kv/k'), { method: 'PUT', body: 'v' });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="dualkv"');
    expect(none.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(((await none.json()) as { error: { code: string } }).error.code).toBe('NO_AUTH');
    const wrong = await fetch(url(srv, '/v1/kv/k'), { headers: bearer('app:nope') });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toBe('Bearer realm="dualkv", error="invalid_token"');
    expect(((await wrong.json()) as { error: { code: string } }).error.code).toBe('WRONG_PASS');
    const basic = await fetch(url(srv, '/v1/kv/k'), { headers: { Authorization: 'Basic YXBwOmFwcC1wYXNzLTE=' } });
    expect(basic.status).toBe(401);
    expect(srv.server.backend.dbsize()).toBe(0);
    expect(srv.server.ctx.info().stats?.auth_failures).toBe(1);
  });

  it('a right token works; a read-only one writing gets 403 NO_PERM', async () => {
    const srv = await start();
    expect((await fetch(url(srv, '/v1/kv/k'), { method: 'PUT', body: 'v', headers: bearer('app:app-pass-1') })).status).toBe(201);
    const got = await fetch(url(srv, '/v1/kv/k'), { headers: bearer('ro:ro-pass-2') });
    expect([got.status, await got.text()]).toEqual([200, 'v']);
    const write = await fetch(url(srv, '/v1/kv/k'), { method: 'PUT', body: 'w', headers: bearer('ro:ro-pass-2') });
    expect(write.status).toBe(403);
    expect(((await write.json()) as { error: { code: string } }).error.code).toBe('NO_PERM');
    const del = await fetch(url(srv, '/v1/kv/k'), { method: 'DELETE', headers: bearer('ro:ro-pass-2') });
    expect(del.status).toBe(403);
    expect(srv.server.backend.get('k')).toMatchObject({ value: 'v' });
  });

  it('leaves the probes and the console files open, and asks a token for /metrics', async () => {
    const srv = await start();
    expect((await fetch(url(srv, '/livez'))).status).toBe(200);
    expect((await fetch(url(srv, '/readyz'))).status).toBe(200);
    expect((await fetch(url(srv, '/ui/'))).status).toBe(200);
    expect((await fetch(url(srv, '/metrics'))).status).toBe(401);
    const scraped = await fetch(url(srv, '/metrics'), { headers: bearer('ro:ro-pass-2') });
    expect(scraped.status).toBe(200);
    expect(await scraped.text()).toMatch(/^dualkv_auth_total\{transport="http",result="ok"\} 1$/m);
  });

  it('checks a keep-alive connection once per token: one audit line, not one per request', async () => {
    const srv = await start();
    for (let i = 0; i < 5; i++) expect((await fetch(url(srv, `/v1/kv/k${i}`), { method: 'PUT', body: 'v', headers: bearer('app:app-pass-1') })).status).toBe(201);
    expect(srv.logs.find('authenticated').length).toBeLessThan(5);
    expect(srv.server.backend.dbsize()).toBe(5);
  });
});
