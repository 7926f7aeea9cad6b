import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { hashPassword, matches, parseSecret, type StoredSecret } from '../../src/auth/secrets.js';
import { loadUsersFile, parseUsers, UsersFileError } from '../../src/auth/users-file.js';

/** The users file (README "Authentication") and its secrets (src/auth/). */
describe('secrets', () => {
  it('a hash from --hash-password matches its password and nothing else', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), (password, other) => {
        const secret = parseSecret(hashPassword(password)) as StoredSecret;
        expect(matches(secret, password)).toBe(true);
        if (other !== password) expect(matches(secret, other)).toBe(false);
      }),
      { numRuns: 200 },
    );
  });

  it('salts every hash: the same password twice gives two different lines', () => {
    expect(hashPassword('same')).not.toBe(hashPassword('same'));
    expect(hashPassword('same')).toMatch(/^sha256:[0-9a-f]{32}:[0-9a-f]{64}$/);
  });

  it('takes plain:<password> for a file that is itself a secret', () => {
    const secret = parseSecret('plain:hunter2') as StoredSecret;
    expect(matches(secret, 'hunter2')).toBe(true);
    expect(matches(secret, 'hunter3')).toBe(false);
    expect(parseSecret('plain:')).toMatch(/empty/);
    expect(parseSecret('md5:abc')).toMatch(/sha256:<salt hex>/);
  });
});

describe('the users file', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'dualkv-users-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads users, permissions, secrets and UDP keys, with comments and blank lines', () => {
    const key = 'ab'.repeat(32);
    const users = parseUsers(
      ['# who may connect', '', `admin admin ${hashPassword('a-secret')}`, `app readwrite plain:app-secret udp-key=7:${key}  # the service`, 'ro read plain:ro-secret'].join('\n'),
      'users.txt',
    );
    expect(users.map((u) => [u.name, u.permission, u.udpKeys.map((k) => [k.id, k.key.toString('hex')])])).toEqual([
      ['admin', 'admin', []],
      ['app', 'readwrite', [[7, key]]],
      ['ro', 'read', []],
    ]);
    expect(matches(users[1]!.secret, 'app-secret')).toBe(true);
  });

  it('refuses a bad line with the file, the line and what to write, and never shows the secret', () => {
    const cases: Array<[string, RegExp]> = [
      ['app readwrite', /users\.txt:1: a line is "name permission secret/],
      ['app superuser plain:top-secret-1', /users\.txt:1: permission "superuser" is not one of read, readwrite, admin/],
      ['app read md5:top-secret-2', /users\.txt:1: a secret is sha256:/],
      ['a b read plain:x', /permission "b"/],
      ['app read plain:top-secret-3\napp admin plain:top-secret-4', /users\.txt:2: user "app" is given twice/],
      ['app read plain:top-secret-5 udp-key=1:abcd', /users\.txt:1: UDP key 1 must be at least 32 bytes/],
      ['app read plain:top-secret-6 udp-key=0:' + 'ab'.repeat(32), /a UDP key id is from 1 to 65535/],
      ['# nothing', /no users in it/],
    ];
    for (const [text, message] of cases) {
      let err: unknown;
      try {
        parseUsers(text, 'users.txt');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UsersFileError);
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message).not.toMatch(/top-secret/);
    }
  });

  it('warns when others may read the file, and names a file it cannot read', () => {
    const file = path.join(dir, 'users');
    writeFileSync(file, 'app read plain:x\n');
    chmodSync(file, 0o644);
    expect(loadUsersFile(file).warning).toMatch(/may be read by other users of this machine \(mode 644\); chmod 600 it/);
    chmodSync(file, 0o600);
    expect(loadUsersFile(file).warning).toBeNull();
    expect(() => loadUsersFile(path.join(dir, 'missing'))).toThrow(/cannot read the users file .*missing: ENOENT/);
  });
});

describe('kv-server --hash-password', () => {
  const run = (stdin: string) => spawnSync(process.execPath, [path.resolve('dist/src/kv-server.js'), '--hash-password'], { input: stdin, encoding: 'utf8' });

  it('reads the password from stdin and prints a line the users file takes, which matches it', () => {
    const r = run('from-stdin-pass\n');
    expect(r.status).toBe(0);
    const line = r.stdout.trim();
    expect(line).toMatch(/^sha256:[0-9a-f]{32}:[0-9a-f]{64}$/);
    expect(matches(parseSecret(line) as StoredSecret, 'from-stdin-pass')).toBe(true);
    expect(r.stdout + r.stderr).not.toContain('from-stdin-pass');
  });

  it('says how to use it when stdin is empty, with the config exit code', () => {
    const r = run('');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--hash-password reads the password from stdin, and got none/);
  });
});
