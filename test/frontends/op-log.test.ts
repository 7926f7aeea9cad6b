import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createRootLogger, type RootLogger } from '../../src/logger.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { RawClient } from '../helpers/socket.js';
import { multibulk, respReplies } from './resp-reader.js';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describe('the operation log', () => {
  let srv: TestServer | undefined;
  const clients: RawClient[] = [];
  const roots: RootLogger[] = [];
  const dirs: string[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await srv?.stop();
    srv = undefined;
    for (const r of roots.splice(0)) await r.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  async function connect(logOps = true): Promise<RawClient> {
    srv ??= await startTestServer({ logOps });
    const c = await RawClient.connect(srv.tcpPort);
    clients.push(c);
    return c;
  }

  const ops = () => srv?.logs.find('op') ?? [];

  it('writes one line per text command with time, cmd, key, vsize, outcome, us, transport and client, never the value', async () => {
    const c = await connect();
    const secret = 'hunter2-secret-value';
    await c.text(`PUT greeting ${secret}`, 'GET greeting', 'GET nothing', 'DEL greeting', 'DEL greeting', 'PING');
    const lines = ops();
    expect(lines).toHaveLength(6);
    const client = `127.0.0.1:${c.socket.localPort}`;
    for (const line of lines) {
      expect(line.time).toMatch(ISO);
      expect(line).toMatchObject({ transport: 'tcp', client, conn: expect.any(Number) });
      expect(line.us).toEqual(expect.any(Number));
      expect(line.us as number).toBeGreaterThanOrEqual(0);
      expect(JSON.stringify(line)).not.toContain(secret);
    }
    expect(lines.map((l) => [l.cmd, l.key, l.vsize, l.outcome])).toEqual([
      ['PUT', 'greeting', secret.length, 'ok'],
      ['GET', 'greeting', secret.length, 'ok'],
      ['GET', 'nothing', undefined, 'not_found'],
      ['DEL', 'greeting', undefined, 'ok'],
      ['DEL', 'greeting', undefined, 'not_found'],
      ['PING', undefined, undefined, 'ok'],
    ]);
  });

  it('logs RESP commands the same way, under their canonical names', async () => {
    const c = await connect();
    c.write(Buffer.concat([multibulk('set', 'k', 'abc'), multibulk('DELETE', 'k')]));
    await respReplies(c, 2);
    expect(ops().map((l) => [l.cmd, l.key, l.vsize, l.outcome, l.transport])).toEqual([
      ['SET', 'k', 3, 'ok', 'tcp'],
      ['DEL', 'k', undefined, 'ok', 'tcp'],
    ]);
  });

  it('logs no value size for DEL of several keys (the second word is a key, not a value)', async () => {
    const c = await connect();
    await c.text('PUT a 1', 'DEL a bbbbbbbbbb');
    const del = ops()[1];
    expect(del).toMatchObject({ cmd: 'DEL', key: 'a', outcome: 'ok' });
    expect(del?.vsize).toBeUndefined();
  });

  it('logs errors with the outcome error and their code', async () => {
    const c = await connect();
    await c.text('GET', 'FLY away');
    expect(ops().map((l) => [l.cmd, l.outcome, l.err])).toEqual([
      ['GET', 'error', 'WRONG_ARITY'],
      ['unknown', 'error', 'UNKNOWN_COMMAND'],
    ]);
  });

  it("never writes an unknown command's name to the log file, in either dialect (it may be a password typed at the wrong prompt), though the reply names it", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dualkv-oplog-'));
    dirs.push(dir);
    const root = await createRootLogger({ logDir: dir, logLevel: 'info', logMaxSize: 1 << 20, logFiles: 2, logMaxBacklog: 1 << 20 }, { stdout: false });
    roots.push(root);
    srv = await startTestServer({}, { log: root.log });
    const text = await connect();
    const [textReply] = await text.text('hunter2-text more words', 'PING');
    expect(textReply).toContain('hunter2-text');
    const resp = await connect();
    resp.write(Buffer.concat([multibulk('hunter2-resp', 'arg'), multibulk('PING')]));
    const [respReply] = await respReplies(resp, 2);
    expect(JSON.stringify(respReply)).toContain('hunter2-resp');
    await srv.stop();
    await root.close();
    const log = readFileSync(path.join(dir, 'current.log'), 'utf8');
    expect(log).not.toContain('hunter2');
    const lines = log
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.msg === 'op');
    expect(lines.map((l) => [l.cmd, l.outcome, l.err, 'key' in l])).toEqual([
      ['unknown', 'error', 'UNKNOWN_COMMAND', false],
      ['PING', 'ok', undefined, false],
      ['unknown', 'error', 'UNKNOWN_COMMAND', false],
      ['PING', 'ok', undefined, false],
    ]);
  });

  it('escapes non-printable bytes and backslashes in keys, and shortens long keys keeping their length', async () => {
    const c = await connect();
    const long = 'k'.repeat(200);
    await c.text('PUT "a\\x00\\xffb" v', 'PUT "a\\\\x00" v', `GET ${long}`);
    const [bin, backslash, shortened] = ops();
    expect(bin?.key).toBe('a\\x00\\xffb');
    expect(backslash?.key).toBe('a\\\\x00'); // a literal backslash is escaped, so it cannot pass for an escape
    expect(shortened?.key).toBe(`${'k'.repeat(64)}...(200 bytes)`);
  });

  it('logs no op lines with logOps off (--no-log-ops), but still logs server events', async () => {
    const c = await connect(false);
    await c.text('PUT k v', 'GET k', 'DEL k');
    c.write('*x\r\n'); // not a RESP connection: just an unknown text command
    await c.lines(4);
    const r = await RawClient.connect(srv?.tcpPort as number);
    clients.push(r);
    r.write('*x\r\n');
    await r.waitClosed();
    expect(ops()).toHaveLength(0);
    expect(srv?.logs.find('protocol error; closing the connection')).toHaveLength(1);
  });
});
