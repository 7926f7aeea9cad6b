import { describe, expect, it } from 'vitest';
import { splitArgs } from '../../src/protocol/split-args.js';
import { serverFixture } from '../helpers/server.js';
import { ALL_BYTES, multibulk, respReplies } from './resp-reader.js';

describe('TCP text dialect', () => {
  const fx = serverFixture();

  const connect = () => fx.connect();

  it('answers PUT, GET, EXISTS and DEL with one line each', async () => {
    const c = await connect();
    expect(
      await c.text('PUT greeting hello world', 'GET greeting', 'EXISTS greeting', 'DEL greeting', 'GET greeting', 'DEL greeting', 'EXISTS greeting'),
    ).toEqual(['OK', 'VALUE hello world', 'INT 1', 'DELETED', 'NOT_FOUND', 'NOT_FOUND', 'INT 0']);
  });

  it('takes SET and DELETE as other spellings of PUT and DEL', async () => {
    const c = await connect();
    expect(await c.text('SET k v', 'GET k', 'DELETE k', 'GET k')).toEqual(['OK', 'VALUE v', 'DELETED', 'NOT_FOUND']);
  });

  it('reads command names in any case', async () => {
    const c = await connect();
    expect(await c.text('put k v', 'Get k', 'dEl k')).toEqual(['OK', 'VALUE v', 'DELETED']);
  });

  it('accepts CRLF line ends after a first line that ends in a bare LF', async () => {
    const c = await connect();
    expect(await c.text('PING', 'PUT k a b\r', 'GET k\r')).toEqual(['PONG', 'OK', 'VALUE a b']);
  });

  describe('the first line chooses the dialect (docs/PROTOCOL.md, before §1)', () => {
    it('a first line ending in CRLF is a Redis inline command, answered in RESP2 (redis-benchmark PING_INLINE, HAProxy redis-check)', async () => {
      const c = await connect();
      c.write('PING\r\n');
      expect(await respReplies(c, 1)).toEqual([{ status: 'PONG' }]);
      c.clear();
      c.write('SET k "a b"\r\n');
      c.write(multibulk('GET', 'k'));
      expect(await respReplies(c, 2)).toEqual([{ status: 'OK' }, 'a b']);
    });

    it('a first line longer than --max-line-size is the text dialect\'s, which refuses it and goes on', async () => {
      const srv = await fx.start({ limits: { maxLineSize: 64 } });
      const c = await fx.connect(srv);
      c.write('x'.repeat(100));
      c.write('\r\nPING\n');
      expect(await c.lines(2)).toEqual([expect.stringMatching(/^ERR LINE_TOO_LONG /), 'PONG']);
    });
  });

  it('stores quoted values byte for byte, and GET prints them so they can be pasted back', async () => {
    const c = await connect();
    expect(await c.text('PUT bytes "line one\\nline two\\x00"', 'GET bytes')).toEqual(['OK', 'VALUE "line one\\nline two\\x00"']);
    expect(fx.srv.server.backend.get('bytes')?.value).toBe('line one\nline two\x00');
    const [, printed] = await c.text('GET bytes', 'GET bytes');
    const shown = (printed as string).slice('VALUE '.length);
    expect(await c.text(`PUT copy ${shown}`, 'GET copy')).toEqual(['OK', `VALUE ${shown}`]);
    expect(fx.srv.server.backend.get('copy')?.value).toBe('line one\nline two\x00');
  });

  it('shows a value stored over RESP, with every byte 0..255, quoted so that it reads back the same', async () => {
    const resp = await connect();
    resp.write(multibulk('SET', 'bin', ALL_BYTES));
    expect(await respReplies(resp, 1)).toEqual([{ status: 'OK' }]);
    const text = await connect();
    const [line] = await text.text('GET bin');
    expect(line?.startsWith('VALUE "')).toBe(true);
    expect(splitArgs((line as string).slice('VALUE '.length))).toEqual([ALL_BYTES]);
  });

  it('answers PING, DBSIZE, STATS and HELP', async () => {
    const c = await connect();
    const [ping, put, dbsize, stats, help] = await c.text('PING', 'PUT a 1', 'DBSIZE', 'STATS', 'HELP');
    expect(ping).toBe('PONG');
    expect(put).toBe('OK');
    expect(dbsize).toBe('INT 1');
    expect(stats).toMatch(/^STATS /);
    expect(stats).toContain(' db0=keys=1,expires=0,avg_ttl=0');
    expect(stats).toContain(' connected_clients=1');
    expect(stats).toMatch(/ cmdstat_put=calls=1,/);
    expect(help).toMatch(/^HELP /);
    expect(help).toContain('PUT key value-to-end-of-line');
  });

  it("HELP shows only the text dialect's commands, with its own syntax for values that are the rest of the line", async () => {
    const c = await connect();
    const [help] = await c.text('HELP');
    const usages = (help as string).slice('HELP '.length).split(' | ');
    expect(usages).toContain('SET key value-to-end-of-line, or SET key "value" [NX|XX|IFEQ old] [GET] [EX s|PX ms|EXAT t|PXAT t|KEEPTTL]');
    expect(usages).toContain('SETEX key seconds value-to-end-of-line');
    expect(usages).toEqual(expect.arrayContaining(['MULTI', 'EXEC', 'KEYS pattern', 'SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]']));
    // RESP-only commands are not offered here.
    for (const u of usages) expect(u).not.toMatch(/^(CONFIG|CLIENT|COMMAND|SELECT|INFO|HELLO)\b/);
    // What HELP says about SET holds: an unquoted value is the rest of the line, a quoted one takes options.
    expect(await c.text('SET k v NX', 'GET k', 'SET k "w" NX', 'SET k "w" XX', 'GET k')).toEqual(['OK', 'VALUE v NX', 'NOT_FOUND', 'OK', 'VALUE w']);
  });

  it('lists keys by prefix with KEYS and SCAN, one line each', async () => {
    const c = await connect();
    await c.text('MSET user:1 a user:2 b "user:with space" c other d');
    const [keys] = await c.text('KEYS user:*');
    expect(keys).toMatch(/^KEYS 3 /);
    expect(splitArgs((keys as string).slice('KEYS 3 '.length))?.sort()).toEqual(['user:1', 'user:2', 'user:with space']);
    const listed: string[] = [];
    let cursor = '0';
    do {
      const [line] = await c.text(`SCAN ${cursor} MATCH user:* COUNT 1`);
      const words = splitArgs(line as string) as string[];
      expect(words[0]).toBe('CURSOR');
      cursor = words[1] as string;
      expect(words.length - 3).toBe(Number(words[2]));
      listed.push(...words.slice(3));
    } while (cursor !== '0');
    expect(listed.sort()).toEqual(['user:1', 'user:2', 'user:with space']);
  });

  it('answers an unknown command with ERR UNKNOWN_COMMAND and goes on serving', async () => {
    const c = await connect();
    expect(await c.text('FLY away', 'CONFIG GET port', 'PING')).toEqual([
      "ERR UNKNOWN_COMMAND unknown command 'FLY'; send HELP for the list",
      "ERR UNKNOWN_COMMAND unknown command 'CONFIG'; send HELP for the list", // RESP-only
      'PONG',
    ]);
  });

  it('shortens a long unknown command name in the reply, in plain ASCII', async () => {
    const c = await connect();
    const [line] = await c.text('X'.repeat(40));
    expect(line).toMatch(/^ERR UNKNOWN_COMMAND unknown command 'X{32}\.\.\.\(40 bytes\)'; send HELP for the list$/);
  });

  it('answers a wrong number of arguments with ERR WRONG_ARITY and the usage', async () => {
    const c = await connect();
    expect(await c.text('GET', 'PUT k', 'PING')).toEqual([
      "ERR WRONG_ARITY wrong number of arguments for 'get' command; usage: GET key",
      "ERR WRONG_ARITY wrong number of arguments for 'put' command; usage: PUT key value-to-end-of-line",
      'PONG',
    ]);
  });

  it('answers bad quoting with ERR BAD_QUOTING and changes nothing', async () => {
    const c = await connect();
    const [bad, after, get] = await c.text('PUT k "unclosed', 'PUT k "a"b', 'GET k');
    expect(bad).toMatch(/^ERR BAD_QUOTING /);
    expect(after).toMatch(/^ERR BAD_QUOTING /);
    expect(get).toBe('NOT_FOUND');
  });

  it('answers QUIT with BYE and closes, without running the lines after it', async () => {
    const c = await connect();
    c.write('PUT before 1\nQUIT\nPUT after 2\n');
    await c.waitClosed();
    expect(c.received).toBe('OK\nBYE\n');
    const d = await connect();
    expect(await d.text('GET before', 'GET after')).toEqual(['VALUE 1', 'NOT_FOUND']);
  });

  it('answers many pipelined commands in one write, in order', async () => {
    const c = await connect();
    const n = 500;
    const lines: string[] = [];
    const want: string[] = [];
    for (let i = 0; i < n; i++) {
      lines.push(`PUT key:${i} value ${i}`, `GET key:${i}`);
      want.push('OK', `VALUE value ${i}`);
    }
    expect(await c.text(...lines)).toEqual(want);
  });

  it('answers a large pipeline sent across many small packets, in order', async () => {
    const c = await connect();
    c.socket.setNoDelay(true);
    const n = 3000;
    let all = '';
    const want: string[] = [];
    for (let i = 0; i < n; i++) {
      all += `PUT k${i % 50} v${i}\nGET k${i % 50}\n`;
      want.push('OK', `VALUE v${i}`);
    }
    // Odd-sized pieces, so commands straddle the writes.
    for (let off = 0; off < all.length; off += 37) c.write(all.slice(off, off + 37));
    const got = await c.lines(2 * n);
    expect(got).toEqual(want);
  });
});
