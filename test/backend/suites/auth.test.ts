import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Status, UdpReplyError } from '../../../clients/lib/udp-client.js';
import { forEachBackend } from './backends.js';

/** Issue 15: README "Authentication" (a users file) over every backend: RESP, the text dialect, HTTP and signed UDP. */
const SECRETS = { admin: 'admin-pw-31c9', app: 'app-pw-7e10', ro: 'ro-pw-b2d4' };
const UDP_KEY = Buffer.alloc(32, 0x5a);

let dir = '';
let usersFile = '';
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'dualkv-suite-auth-'));
  usersFile = path.join(dir, 'users');
  writeFileSync(
    usersFile,
    [`admin admin plain:${SECRETS.admin}`, `app readwrite plain:${SECRETS.app} udp-key=7:${UDP_KEY.toString('hex')}`, `ro read plain:${SECRETS.ro}`, ''].join('\n'),
    { mode: 0o600 },
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

forEachBackend((b) => {
  const serve = () => b.serve({ auth: { usersFile, requirepass: null, protectedMode: true } });

  it('RESP: NOAUTH before AUTH, WRONGPASS for a wrong password, NOPERM for a read user writing', async () => {
    const served = await serve();
    const c = served.client({ enableReadyCheck: false });
    await expect(c.set('k', 'v')).rejects.toThrow(/^NOAUTH Authentication required\.$/);
    await expect(c.call('AUTH', 'app', 'wrong')).rejects.toThrow(/^WRONGPASS invalid username-password pair or user is disabled\.$/);
    expect(await c.call('AUTH', 'app', SECRETS.app)).toBe('OK');
    expect(await c.set('k', 'v')).toBe('OK');
    expect(await c.call('ACL', 'WHOAMI')).toBe('app');
    await expect(c.flushall()).rejects.toThrow(/^NOPERM /);
    const ro = served.client({ enableReadyCheck: false });
    expect(await ro.call('AUTH', 'ro', SECRETS.ro)).toBe('OK');
    expect(await ro.get('k')).toBe('v');
    await expect(ro.set('k', 'w')).rejects.toThrow(/^NOPERM this user has no permissions to run the 'set' command$/);
    expect(await ro.get('k')).toBe('v');
    const admin = served.client({ enableReadyCheck: false, username: 'admin', password: SECRETS.admin });
    expect(await admin.dbsize()).toBe(1);
  });

  it('text dialect: AUTH user password', async () => {
    const { text } = await serve();
    const c = await text();
    const [denied] = await c.text('GET k');
    expect(denied).toBe('ERR NO_AUTH Authentication required.');
    const [ok, put, got] = await c.text(`AUTH app ${SECRETS.app}`, 'PUT k over text', 'GET k');
    expect([ok, put, got]).toEqual(['OK', 'OK', 'VALUE over text']);
  });

  it('HTTP: 401 without a token, 403 for a read user writing, 2xx for a writer', async () => {
    const { http } = await serve();
    const url = `${http}/v1/kv/k`;
    const none = await fetch(url);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="dualkv"');
    expect((await fetch(url, { headers: { Authorization: 'Bearer app:wrong' } })).status).toBe(401);
    expect((await fetch(url, { method: 'PUT', body: 'v', headers: { Authorization: `Bearer app:${SECRETS.app}` } })).status).toBe(201);
    const denied = await fetch(url, { method: 'PUT', body: 'w', headers: { Authorization: `Bearer ro:${SECRETS.ro}` } });
    expect(denied.status).toBe(403);
    expect(await denied.json()).toMatchObject({ error: { code: 'NO_PERM' } });
    const got = await fetch(url, { headers: { Authorization: `Bearer ro:${SECRETS.ro}` } });
    expect([got.status, await got.text()]).toEqual([200, 'v']);
  });

  it('UDP: a signed request runs as the key\'s user; an unsigned one is refused and runs nothing', async () => {
    const served = await serve();
    const { udp } = served;
    const redis = served.client({ enableReadyCheck: false, username: 'admin', password: SECRETS.admin });
    const signed = await udp({ udpKey: { id: 7, key: UDP_KEY } });
    await signed.put('u', 'signed');
    expect((await signed.get('u'))?.toString()).toBe('signed');
    const unsigned = await udp({ retries: 0 });
    await expect(unsigned.put('u', 'unsigned')).rejects.toSatisfy((err: unknown) => err instanceof UdpReplyError && err.status === Status.UNAUTHORIZED);
    expect(await redis.get('u')).toBe('signed');
  });
});
