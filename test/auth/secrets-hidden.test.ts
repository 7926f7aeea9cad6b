import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { processFixture } from '../helpers/process.js';
import { RawClient } from '../helpers/socket.js';
import { multibulk, request, respReplies } from '../frontends/resp-reader.js';

/** Issue 14: a secret appears in no log line, CONFIG GET, INFO, error reply, MONITOR line or `ps` output of the server or the clients. */

const SERVER_SECRET = 'srv-Secret-31a9e';
const WRONG_GUESS = 'guess-Secret-c0ffee';
const KV_TCP = path.resolve('dist/clients/kv-tcp.js');
const KV_UDP = path.resolve('dist/clients/kv-udp.js');
const UDP_KEY_HEX = 'c3'.repeat(32);

/** The command line of a running process, as `ps` shows it to every user. */
function cmdline(pid: number): string {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
}

describe('secrets stay secret', () => {
  const fx = processFixture();

  it('a server given KV_REQUIREPASS shows it nowhere: not in ps, its log lines and files, CONFIG GET, INFO, errors or MONITOR', async () => {
    const { proc, dir } = fx.start(['--log-level', 'debug'], { env: { KV_REQUIREPASS: SERVER_SECRET } });
    const logDir = path.join(dir, 'logs');
    const { tcpPort } = await proc.listening();
    expect(cmdline(proc.child.pid as number)).not.toContain(SERVER_SECRET);

    const watcher = await RawClient.connect(tcpPort);
    expect((await request(watcher, 'AUTH', SERVER_SECRET)).raw).toBe('+OK\r\n');
    watcher.write(multibulk('MONITOR'));
    await respReplies(watcher, 1);
    const c = await RawClient.connect(tcpPort);
    const replies: string[] = [];
    replies.push((await request(c, 'AUTH', WRONG_GUESS)).raw);
    replies.push((await request(c, 'AUTH', 'default', WRONG_GUESS)).raw);
    replies.push((await request(c, 'HELLO', '3', 'AUTH', 'default', WRONG_GUESS)).raw);
    replies.push((await request(c, WRONG_GUESS)).raw); // a password typed as a command
    replies.push((await request(c, 'AUTH', SERVER_SECRET)).raw);
    replies.push((await request(c, 'HELLO', '2', 'AUTH', 'default', SERVER_SECRET)).raw);
    replies.push((await request(c, 'CONFIG', 'GET', '*')).raw);
    replies.push((await request(c, 'INFO', 'everything')).raw);
    replies.push((await request(c, 'CLIENT', 'LIST')).raw);
    replies.push((await request(c, 'SET', 'k', 'v')).raw);
    await watcher.until((r) => r.includes('"SET"'));
    const monitor = watcher.received;
    expect(monitor).toContain('"AUTH" "(redacted)"');
    watcher.close();
    c.close();
    // The audit lines are written (an event, not a sleep), then the server stops and flushes its files.
    await proc.until((lines) => lines.filter((l) => l.msg === 'authentication failed').length === 3 && lines.some((l) => l.msg === 'authenticated'), 'the audit lines');
    proc.child.kill('SIGTERM');
    await proc.exit();

    const everything = [replies.join('\n'), monitor, JSON.stringify(proc.lines), proc.stderr, ...readdirSync(logDir).map((f) => readFileSync(path.join(logDir, f), 'utf8'))].join('\n');
    expect(everything).toContain('authentication failed'); // the audit lines are there …
    expect(everything).not.toContain(SERVER_SECRET); // … and no secret is
    expect(everything).not.toContain(WRONG_GUESS);
    expect(everything).not.toContain('guess-Secret');
  });

  it('kv-tcp takes the password from a file or KV_PASSWORD, never from its command line', async () => {
    const { proc, dir } = fx.start(['--no-persistence'], { env: { KV_REQUIREPASS: SERVER_SECRET } });
    const { tcpPort } = await proc.listening();
    const passwordFile = path.join(dir, 'password');
    writeFileSync(passwordFile, `${SERVER_SECRET}\n`, { mode: 0o600 });

    const run = (args: string[], env: NodeJS.ProcessEnv, stdin: string) =>
      new Promise<{ code: number | null; out: string; err: string; argv: string }>((resolve) => {
        const child = spawn(process.execPath, [KV_TCP, '--port', String(tcpPort), ...args], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        let argv = '';
        // What ps shows of the running client (its command line is fixed at exec).
        child.once('spawn', () => (argv = cmdline(child.pid as number)));
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        child.on('exit', (code) => resolve({ code, out, err, argv }));
        child.stdin.end(stdin);
      });

    const fromFile = await run(['--password-file', passwordFile], {}, 'put k from-file\nget k\nquit\n');
    expect(fromFile.out).toContain('from-file');
    expect(fromFile.argv).not.toContain(SERVER_SECRET);
    const fromEnv = await run([], { KV_PASSWORD: SERVER_SECRET }, 'get k\nquit\n');
    expect(fromEnv.out).toContain('from-file');
    expect(fromEnv.argv).not.toContain(SERVER_SECRET);
    const without = await run(['get', 'k'], { KV_PASSWORD: '' }, '');
    expect(without.code).toBe(4);
    expect(without.err).toMatch(/NOAUTH Authentication required/);
    const wrong = await run(['get', 'k'], { KV_PASSWORD: WRONG_GUESS }, '');
    expect(wrong.err).toMatch(/WRONGPASS/);
    expect(wrong.err + wrong.out).not.toContain(WRONG_GUESS);
  });

  it('kv-udp takes its UDP key from a file or KV_UDP_KEY: the key is not on its command line, and the signed request works', async () => {
    const dir = fx.dir();
    const users = path.join(dir, 'users');
    writeFileSync(users, `app readwrite plain:udp-app-pass udp-key=9:${UDP_KEY_HEX}\n`, { mode: 0o600 });
    const { proc } = fx.start(['--no-persistence', '--users-file', users], { dir });
    const { udpPort } = await proc.listening();
    const keyFile = path.join(dir, 'udp.key');
    writeFileSync(keyFile, `9:${UDP_KEY_HEX}\n`, { mode: 0o600 });
    const run = (args: string[], env: NodeJS.ProcessEnv) =>
      new Promise<{ code: number | null; out: string; argv: string }>((resolve) => {
        const child = spawn(process.execPath, [KV_UDP, '--port', String(udpPort), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let argv = '';
        child.once('spawn', () => (argv = cmdline(child.pid as number)));
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (out += d.toString()));
        child.on('exit', (code) => resolve({ code, out, argv }));
      });
    const fromFile = await run(['--udp-key-file', keyFile, 'put', 'k', 'signed'], {});
    expect(fromFile.code).toBe(0);
    expect(fromFile.argv).not.toContain(UDP_KEY_HEX);
    const fromEnv = await run(['get', 'k'], { KV_UDP_KEY: `9:${UDP_KEY_HEX}` });
    expect([fromEnv.code, fromEnv.out]).toEqual([0, 'signed']);
    expect(fromEnv.argv).not.toContain(UDP_KEY_HEX);
    const unsigned = await run(['--retries', '0', 'get', 'k'], { KV_UDP_KEY: '' });
    expect(unsigned.code).not.toBe(0);
    expect(JSON.stringify(proc.lines) + proc.stderr).not.toContain(UDP_KEY_HEX);
  });
});
