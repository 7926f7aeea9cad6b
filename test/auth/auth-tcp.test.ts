import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/auth/secrets.js';
import { multibulk, request, respReplies } from '../frontends/resp-reader.js';
import { serverFixture, type TestServer } from '../helpers/server.js';
import { RawClient } from '../helpers/socket.js';

/** Issue 14 points 1, 2 and 8 over TCP: users, AUTH, HELLO AUTH, permissions, the pre-auth limits, the audit trail. */

const SECRETS = { admin: 'admin-secret-4f1c', app: 'app-secret-9b2e', ro: 'ro-secret-77aa' };

describe('authentication over TCP (RESP and the text dialect)', () => {
  const fx = serverFixture();
  const dir = mkdtempSync(path.join(tmpdir(), 'dualkv-auth-'));
  const usersFile = path.join(dir, 'users');
  beforeAll(() => {
    writeFileSync(usersFile, [`admin admin ${hashPassword(SECRETS.admin)}`, `app readwrite plain:${SECRETS.app}`, `ro read ${hashPassword(SECRETS.ro)}`, ''].join('\n'), { mode: 0o600 });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const start = (): Promise<TestServer> => fx.start({ httpPort: 0, auth: { usersFile, requirepass: null, protectedMode: true } });

  it('before AUTH answers only AUTH, HELLO, PING, QUIT and RESET; everything else is NOAUTH and runs nothing', async () => {
    const srv = await start();
    const c = await fx.connect();
    expect((await request(c, 'PING')).raw).toBe('+PONG\r\n');
    expect((await request(c, 'SET', 'k', 'v')).raw).toBe('-NOAUTH Authentication required.\r\n');
    expect((await request(c, 'GET', 'k')).raw).toBe('-NOAUTH Authentication required.\r\n');
    expect((await request(c, 'CONFIG', 'GET', '*')).raw).toBe('-NOAUTH Authentication required.\r\n');
    expect((await request(c, 'HELLO', '3')).raw).toMatch(/^-NOAUTH HELLO must be called with the client already authenticated/);
    // Not Redis's "unknown command 'FLY'": before AUTH an unknown word is not echoed (it may be a password typed at the wrong place).
    expect((await request(c, 'FLY')).raw).toBe('-NOAUTH Authentication required.\r\n');
    expect((await request(c, 'RESET')).raw).toBe('+RESET\r\n');
    expect(srv.server.backend.dbsize()).toBe(0);
    // SET, GET and CONFIG GET (HELLO answers for itself).
    expect(srv.server.ctx.info().stats?.commands_denied_noauth).toBe(3);
  });

  it("AUTH with a wrong password is Redis's WRONGPASS and is counted and logged without the secret; the right one works", async () => {
    const srv = await start();
    const c = await fx.connect();
    expect((await request(c, 'AUTH', 'app', 'not-it-5c3d')).raw).toBe('-WRONGPASS invalid username-password pair or user is disabled.\r\n');
    expect((await request(c, 'AUTH', 'nobody', 'not-it-5c3d')).raw).toBe('-WRONGPASS invalid username-password pair or user is disabled.\r\n');
    expect((await request(c, 'GET', 'k')).raw).toBe('-NOAUTH Authentication required.\r\n');
    expect((await request(c, 'AUTH', 'app', SECRETS.app)).raw).toBe('+OK\r\n');
    expect((await request(c, 'SET', 'k', 'v')).raw).toBe('+OK\r\n');
    expect((await request(c, 'ACL', 'WHOAMI')).raw).toBe('$3\r\napp\r\n');
    const stats = srv.server.ctx.info().stats ?? {};
    expect([stats.auth_failures, stats.auth_successes]).toEqual([2, 1]);
    const failed = srv.logs.find('authentication failed');
    expect(failed.map((l) => [l.user, l.transport])).toEqual([
      ['app', 'tcp'],
      ['nobody', 'tcp'],
    ]);
    expect(srv.logs.find('authenticated').map((l) => l.user)).toEqual(['app']);
  });

  it('holds each user to its permission: read, readwrite, admin', async () => {
    const srv = await start();
    const ro = await fx.connect();
    const rw = await fx.connect();
    const admin = await fx.connect();
    expect((await request(ro, 'AUTH', 'ro', SECRETS.ro)).raw).toBe('+OK\r\n');
    expect((await request(rw, 'HELLO', '2', 'AUTH', 'app', SECRETS.app)).value).toContain('redis');
    expect((await request(admin, 'AUTH', 'admin', SECRETS.admin)).raw).toBe('+OK\r\n');
    expect((await request(rw, 'SET', 'k', 'v')).raw).toBe('+OK\r\n');
    expect((await request(ro, 'GET', 'k')).raw).toBe('$1\r\nv\r\n');
    expect((await request(ro, 'SCAN', '0')).value).toEqual(['0', ['k']]);
    expect((await request(ro, 'SET', 'k', 'w')).raw).toBe("-NOPERM this user has no permissions to run the 'set' command\r\n");
    expect((await request(ro, 'DEL', 'k')).raw).toBe("-NOPERM this user has no permissions to run the 'del' command\r\n");
    for (const cmd of [['FLUSHALL'], ['CONFIG', 'GET', 'maxmemory'], ['CLIENT', 'KILL', 'ID', '999'], ['SHUTDOWN'], ['MONITOR'], ['ACL', 'USERS']]) {
      expect((await request(rw, ...cmd)).raw).toMatch(/^-NOPERM this user has no permissions to run the '/);
    }
    expect((await request(admin, 'ACL', 'USERS')).value).toEqual(['admin', 'app', 'ro']);
    expect((await request(admin, 'FLUSHALL')).raw).toBe('+OK\r\n');
    expect(srv.server.ctx.info().stats?.commands_denied_noperm).toBe(8);
    const denied = srv.logs.find('command denied').find((l) => l.reason === 'noperm');
    expect(denied).toMatchObject({ user: 'ro', transport: 'tcp', command: 'set' });
    // CLIENT LIST names each connection's user.
    const list = (await request(admin, 'CLIENT', 'LIST')).value as string;
    expect(list.match(/ user=(\w+) /g)?.sort()).toEqual([' user=admin ', ' user=app ', ' user=ro ']);
  });

  it('RESET makes the connection unauthenticated again; a failed AUTH leaves an authenticated one as it was', async () => {
    await start();
    const c = await fx.connect();
    await request(c, 'AUTH', 'app', SECRETS.app);
    expect((await request(c, 'AUTH', 'app', 'wrong')).raw).toMatch(/^-WRONGPASS/);
    expect((await request(c, 'SET', 'k', 'v')).raw).toBe('+OK\r\n');
    expect((await request(c, 'RESET')).raw).toBe('+RESET\r\n');
    expect((await request(c, 'GET', 'k')).raw).toBe('-NOAUTH Authentication required.\r\n');
  });

  it("holds an unauthenticated connection to Redis's limits: more than 10 arguments, or an argument over 16 KiB, closes it", async () => {
    const srv = await start();
    const many = await fx.connect();
    many.write(multibulk('EXISTS', ...Array.from({ length: 10 }, (_, i) => `k${i}`)));
    expect(await respReplies(many, 1)).toEqual([{ error: 'ERR Protocol error: unauthenticated multibulk length' }]);
    await many.waitClosed();
    const big = await fx.connect();
    big.write(`*2\r\n$4\r\nAUTH\r\n$${16 * 1024 + 1}\r\n`);
    expect(await respReplies(big, 1)).toEqual([{ error: 'ERR Protocol error: unauthenticated bulk length' }]);
    await big.waitClosed();
    const line = await fx.connect();
    line.write(`AUTH ${'x'.repeat(17 * 1024)}\n`);
    await line.waitClosed();
    expect(line.received).toMatch(/unauthenticated request line over 16384 bytes; AUTH first/);
    // Once authenticated, the usual limits apply, in the same chunk as the AUTH.
    const ok = await fx.connect();
    ok.write(Buffer.concat([multibulk('AUTH', 'app', SECRETS.app), multibulk('SET', 'big', 'v'.repeat(100 * 1024)), multibulk('EXISTS', ...Array.from({ length: 20 }, () => 'big'))]));
    expect(await respReplies(ok, 3)).toEqual([{ status: 'OK' }, { status: 'OK' }, 20]);
    expect(srv.server.backend.dbsize()).toBe(1);
  });

  it('the text dialect has the same AUTH', async () => {
    await start();
    const c = await fx.connect();
    // The text dialect names the registry's codes (docs/PROTOCOL.md §1).
    expect(await c.text('GET k')).toEqual(['ERR NO_AUTH Authentication required.']);
    expect(await c.text('AUTH app wrong')).toEqual(['ERR WRONG_PASS invalid username-password pair or user is disabled.']);
    expect(await c.text(`AUTH app "${SECRETS.app}"`)).toEqual(['OK']);
    expect(await c.text('PUT k hello')).toEqual(['OK']);
    expect(await c.text('AUTH ro ' + SECRETS.ro)).toEqual(['OK']);
    expect(await c.text('PUT k other')).toEqual(['ERR NO_PERM user ro (read) may not run PUT: it needs readwrite']);
  });

  it('ioredis connects with a username and password, and fails clearly without them', async () => {
    const srv = await start();
    const good = new Redis({ port: srv.tcpPort, host: '127.0.0.1', username: 'app', password: SECRETS.app, lazyConnect: true, maxRetriesPerRequest: 0 });
    const none = new Redis({ port: srv.tcpPort, host: '127.0.0.1', lazyConnect: true, enableReadyCheck: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    none.on('error', () => undefined);
    try {
      await good.connect();
      await good.set('from-ioredis', '1');
      expect(await good.get('from-ioredis')).toBe('1');
      await none.connect();
      await expect(none.get('from-ioredis')).rejects.toThrow(/NOAUTH Authentication required/);
    } finally {
      good.disconnect();
      none.disconnect();
    }
  });

  it('--requirepass makes the default user need that password: AUTH <password>', async () => {
    await fx.start({ auth: { usersFile: null, requirepass: 'the-default-pass', protectedMode: true } });
    const c = await fx.connect();
    expect((await request(c, 'GET', 'k')).raw).toBe('-NOAUTH Authentication required.\r\n');
    expect((await request(c, 'AUTH', 'nope')).raw).toMatch(/^-WRONGPASS/);
    expect((await request(c, 'AUTH', 'the-default-pass')).raw).toBe('+OK\r\n');
    expect((await request(c, 'ACL', 'WHOAMI')).raw).toBe('$7\r\ndefault\r\n');
    expect((await request(c, 'FLUSHALL')).raw).toBe('+OK\r\n');
  });

  it('random bytes from an unauthenticated connection never run a command beyond the handshake', async () => {
    const srv = await start();
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 2048 }), async (bytes) => {
        const c = await RawClient.connect(srv.tcpPort);
        try {
          c.write(Buffer.from(bytes));
          c.write('\r\n*1\r\n$4\r\nPING\r\n');
          // Wait for what the server makes of it: a PONG, or a close after a protocol error.
          await c.until((r) => r.includes('PONG') || c.closed, 5000).catch(() => undefined);
        } finally {
          c.close();
        }
      }),
      { numRuns: 150 },
    );
    const ran = [...srv.server.stats.commandCounters()].filter(([, counter]) => counter.counts[0]! + counter.counts[1]! > 0).map(([name]) => name);
    expect(ran.filter((n) => !['ping', 'auth', 'hello', 'quit', 'reset'].includes(n))).toEqual([]);
    expect(srv.server.backend.dbsize()).toBe(0);
  });
});
