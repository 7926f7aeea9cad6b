import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { processFixture } from '../helpers/process.js';
import { RawClient } from '../helpers/socket.js';
import { request } from '../frontends/resp-reader.js';

/** Issue 14 point 1: the users file is reread on SIGHUP; one that no longer parses leaves the users there were. */
describe('the users file, reread on SIGHUP', () => {
  const fx = processFixture();

  it('a new user works after SIGHUP and a removed one no longer does, even on a connection open before; a broken file keeps the old users', async () => {
    const dir = fx.dir();
    const users = path.join(dir, 'users');
    writeFileSync(users, 'alice readwrite plain:alice-pass\n', { mode: 0o600 });
    const { proc } = fx.start(['--no-persistence', '--users-file', users], { dir });
    const { tcpPort } = await proc.listening();
    const auth = async (user: string, pass: string) => {
      const c = await RawClient.connect(tcpPort);
      try {
        return (await request(c, 'AUTH', user, pass)).raw;
      } finally {
        c.close();
      }
    };
    const aliceConn = await RawClient.connect(tcpPort);
    expect((await request(aliceConn, 'AUTH', 'alice', 'alice-pass')).raw).toBe('+OK\r\n');
    expect(await auth('bob', 'bob-pass')).toMatch(/^-WRONGPASS/);

    const kept = await RawClient.connect(tcpPort);
    expect((await request(kept, 'AUTH', 'bob', 'nope')).raw).toMatch(/^-WRONGPASS/);
    writeFileSync(users, 'bob readwrite plain:bob-pass\n', { mode: 0o600 });
    proc.child.kill('SIGHUP');
    await proc.until((lines) => lines.some((l) => l.msg === 'users reloaded'), 'the reload');
    expect(await auth('bob', 'bob-pass')).toBe('+OK\r\n');
    expect(await auth('alice', 'alice-pass')).toMatch(/^-WRONGPASS/);
    // Alice's connection from before the reload is closed (as Redis's ACL LOAD does); others stay.
    await aliceConn.waitClosed();
    expect((await request(kept, 'AUTH', 'bob', 'bob-pass')).raw).toBe('+OK\r\n');
    expect((await request(kept, 'SET', 'k', 'v')).raw).toBe('+OK\r\n');

    // A permission lowered by a reload holds at once on an open connection.
    writeFileSync(users, 'bob read plain:bob-pass\n', { mode: 0o600 });
    proc.child.kill('SIGHUP');
    await proc.until((lines) => lines.filter((l) => l.msg === 'users reloaded').length === 2, 'the second reload');
    expect((await request(kept, 'SET', 'k', 'w')).raw).toBe("-NOPERM this user has no permissions to run the 'set' command\r\n");

    writeFileSync(users, 'carol superuser plain:carol-pass\n', { mode: 0o600 });
    proc.child.kill('SIGHUP');
    await proc.until((lines) => lines.some((l) => l.msg === 'users file not reloaded: the users loaded before stay in force'), 'the refused reload');
    const refused = proc.find('users file not reloaded: the users loaded before stay in force')[0] ?? {};
    expect(String(refused.error)).toMatch(/users:1: permission "superuser" is not one of read, readwrite, admin/);
    expect(JSON.stringify(proc.lines)).not.toContain('carol-pass');
    expect(await auth('bob', 'bob-pass')).toBe('+OK\r\n');
    expect(proc.alive).toBe(true);
    kept.close();
  });
});
