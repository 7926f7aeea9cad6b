import { describe, expect, it } from 'vitest';
import { serverFixture } from '../helpers/server.js';
import type { RawClient } from '../helpers/socket.js';
import { multibulk, request, respReplies, type RespValue } from './resp-reader.js';

/** CLIENT, HELLO and AUTH over raw RESP sockets, with Redis 7.0's replies and error texts. */

const value = async (c: RawClient, ...words: string[]): Promise<RespValue> => (await request(c, ...words)).value;

/** CLIENT LIST's `key=value` fields of one line. */
function fields(line: string): Record<string, string> {
  return Object.fromEntries(line.split(' ').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}

describe('CLIENT', () => {
  const fx = serverFixture();

  it("lists every client with Redis 7.0's fields in Redis's order, its own line showing the command it runs", async () => {
    const a = await fx.connect();
    const b = await fx.connect();
    expect(await value(b, 'CLIENT', 'SETNAME', 'worker-2')).toEqual({ status: 'OK' });
    const list = (await value(a, 'CLIENT', 'LIST')) as string;
    const lines = list.split('\n');
    expect(lines.pop()).toBe(''); // every line ends in LF
    expect(lines).toHaveLength(2);
    const names = lines[0]?.split(' ').map((kv) => kv.slice(0, kv.indexOf('=')));
    expect(names).toEqual([
      'id', 'addr', 'laddr', 'fd', 'name', 'age', 'idle', 'flags', 'db', 'sub', 'psub', 'ssub', 'multi', 'qbuf', 'qbuf-free', 'argv-mem',
      'multi-mem', 'rbs', 'rbp', 'obl', 'oll', 'omem', 'tot-mem', 'events', 'cmd', 'user', 'redir', 'resp', 'lib-name', 'lib-ver',
    ]);
    const [mine, other] = lines.map(fields) as [Record<string, string>, Record<string, string>];
    expect(mine).toMatchObject({ name: '', flags: 'N', db: '0', multi: '-1', qbuf: '26', 'argv-mem': '10', omem: '0', events: 'r', cmd: 'client|list', user: 'default', redir: '-1', resp: '2' });
    expect(mine.addr).toBe(`127.0.0.1:${a.socket.localPort}`);
    expect(mine.laddr).toBe(`127.0.0.1:${fx.srv.tcpPort}`);
    expect(other).toMatchObject({ name: 'worker-2', cmd: 'client|setname', qbuf: '0', 'argv-mem': '0' });
    expect(Number(other.id)).toBe(Number(mine.id) + 1);
  });

  it('answers CLIENT ID, INFO, LIST ID and LIST TYPE, and their errors', async () => {
    const c = await fx.connect();
    const id = (await value(c, 'CLIENT', 'ID')) as number;
    expect(typeof id).toBe('number');
    expect(fields(((await value(c, 'CLIENT', 'INFO')) as string).trimEnd())).toMatchObject({ id: String(id), cmd: 'client|info' });
    expect(((await value(c, 'CLIENT', 'LIST', 'ID', String(id), '999999')) as string).split('\n')).toHaveLength(2);
    expect(await value(c, 'CLIENT', 'LIST', 'ID', 'x')).toEqual({ error: 'ERR Invalid client ID' });
    expect(await value(c, 'CLIENT', 'LIST', 'TYPE', 'pubsub')).toBe('');
    expect(await value(c, 'CLIENT', 'LIST', 'TYPE', 'nope')).toEqual({ error: "ERR Unknown client type 'nope'" });
    expect(await value(c, 'CLIENT', 'LIST', 'nope')).toEqual({ error: 'ERR syntax error' });
    expect(await value(c, 'CLIENT')).toEqual({ error: "ERR wrong number of arguments for 'client' command" });
    expect(await value(c, 'CLIENT', 'FLY')).toEqual({ error: "ERR unknown subcommand 'FLY'. Try CLIENT HELP." });
    expect(await value(c, 'CLIENT', 'ID', 'x')).toEqual({ error: "ERR wrong number of arguments for 'client|id' command" });
    const help = (await value(c, 'CLIENT', 'HELP')) as Array<{ status: string }>;
    expect(help[0]).toEqual({ status: 'CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:' });
    expect(help.at(-1)).toEqual({ status: '    Prints this help.' });
  });

  it("keeps Redis's rule for names: no spaces or special characters, and an empty name clears it", async () => {
    const c = await fx.connect();
    expect(await value(c, 'CLIENT', 'GETNAME')).toBeNull();
    for (const bad of ['a b', 'a\nb', 'caf\xe9', 'tab\t']) {
      expect(await value(c, 'CLIENT', 'SETNAME', bad)).toEqual({ error: 'ERR Client names cannot contain spaces, newlines or special characters.' });
    }
    expect(await value(c, 'CLIENT', 'SETNAME', 'ok-name!~')).toEqual({ status: 'OK' });
    expect(await value(c, 'CLIENT', 'GETNAME')).toBe('ok-name!~');
    expect(await value(c, 'CLIENT', 'SETNAME', '')).toEqual({ status: 'OK' });
    expect(await value(c, 'CLIENT', 'GETNAME')).toBeNull();
  });

  it("takes CLIENT SETINFO as Redis 7.2 does, and shows lib-name and lib-ver in CLIENT INFO", async () => {
    const c = await fx.connect();
    expect(await value(c, 'CLIENT', 'SETINFO', 'LIB-NAME', 'redis-py')).toEqual({ status: 'OK' });
    expect(await value(c, 'CLIENT', 'SETINFO', 'lib-ver', '5.0.1')).toEqual({ status: 'OK' });
    expect(await value(c, 'CLIENT', 'SETINFO', 'lib-ver', 'a b')).toEqual({ error: 'ERR lib-ver cannot contain spaces, newlines or special characters.' });
    expect(await value(c, 'CLIENT', 'SETINFO', 'colour', 'x')).toEqual({ error: "ERR Unrecognized option 'colour'" });
    expect(fields(((await value(c, 'CLIENT', 'INFO')) as string).trimEnd())).toMatchObject({ 'lib-name': 'redis-py', 'lib-ver': '5.0.1' });
  });

  it('CLIENT KILL by ID closes the other connection at once and answers how many; the old form answers OK or No such client', async () => {
    const killer = await fx.connect();
    const victim = await fx.connect();
    const victimId = (await value(victim, 'CLIENT', 'ID')) as number;
    expect(await value(killer, 'CLIENT', 'KILL', 'ID', String(victimId))).toBe(1);
    await victim.waitClosed();
    expect(await value(killer, 'CLIENT', 'KILL', 'ID', String(victimId))).toBe(0);
    const second = await fx.connect();
    expect(await value(killer, 'CLIENT', 'KILL', `127.0.0.1:${second.socket.localPort}`)).toEqual({ status: 'OK' });
    await second.waitClosed();
    expect(await value(killer, 'CLIENT', 'KILL', '127.0.0.1:1')).toEqual({ error: 'ERR No such client' });
    expect(fx.srv.server.ctx.info().clients?.connected_clients).toBe(1);
  });

  it('CLIENT KILL filters: ADDR, LADDR, TYPE, USER, SKIPME, and their errors', async () => {
    const me = await fx.connect();
    const others = [await fx.connect(), await fx.connect()];
    expect(await value(me, 'CLIENT', 'KILL', 'TYPE', 'pubsub')).toBe(0);
    expect(await value(me, 'CLIENT', 'KILL', 'LADDR', `127.0.0.1:${fx.srv.tcpPort}`, 'SKIPME', 'yes')).toBe(2);
    await Promise.all(others.map((o) => o.waitClosed()));
    const errors = [
      [['ID', '0'], 'ERR client-id should be greater than 0'],
      [['ID', 'x'], 'ERR client-id should be greater than 0'],
      [['TYPE', 'x'], "ERR Unknown client type 'x'"],
      [['USER', 'alice'], "ERR No such user 'alice'"],
      [['SKIPME', 'maybe'], 'ERR syntax error'],
      [['ID', '5', 'extra'], 'ERR syntax error'],
      [['MAXAGE', '5'], 'ERR syntax error'], // Redis 7.4's filter
    ] as const;
    for (const [args, error] of errors) expect(await value(me, 'CLIENT', 'KILL', ...args)).toEqual({ error });
    // SKIPME no: the caller is counted, answered, then closed.
    expect(await value(me, 'CLIENT', 'KILL', 'USER', 'default', 'SKIPME', 'no')).toBe(1);
    await me.waitClosed();
  });

  it('CLIENT REPLY OFF, SKIP and ON silence replies as Redis does; commands still run', async () => {
    const c = await fx.connect();
    c.write(
      Buffer.concat([
        multibulk('CLIENT', 'REPLY', 'OFF'),
        multibulk('SET', 'k', 'silent'),
        multibulk('PING', 'unseen'),
        multibulk('CLIENT', 'REPLY', 'ON'),
        multibulk('PING', 'one'),
        multibulk('CLIENT', 'REPLY', 'SKIP'),
        multibulk('PING', 'skipped'),
        multibulk('PING', 'two'),
        multibulk('CLIENT', 'REPLY', 'SKIP'),
        multibulk('CLIENT', 'REPLY', 'ON'), // clears the skip: its OK is sent
        multibulk('GET', 'k'),
      ]),
    );
    expect(await respReplies(c, 5)).toEqual([{ status: 'OK' }, 'one', 'two', { status: 'OK' }, 'silent']);
    expect(await value(c, 'CLIENT', 'REPLY', 'MAYBE')).toEqual({ error: 'ERR syntax error' });
  });

  it('CLIENT NO-EVICT ON shows the e flag', async () => {
    const c = await fx.connect();
    expect(await value(c, 'CLIENT', 'NO-EVICT', 'ON')).toEqual({ status: 'OK' });
    expect(fields(((await value(c, 'CLIENT', 'INFO')) as string).trimEnd()).flags).toBe('e');
    expect(await value(c, 'CLIENT', 'NO-EVICT', 'maybe')).toEqual({ error: 'ERR syntax error' });
  });
});

describe('HELLO and AUTH with no password configured', () => {
  const fx = serverFixture();

  it("answers HELLO and HELLO 2 with Redis 7.0's map as a RESP2 array", async () => {
    const c = await fx.connect();
    const id = (await value(c, 'CLIENT', 'ID')) as number;
    const want = ['server', 'redis', 'version', '7.0.15', 'proto', 2, 'id', id, 'mode', 'standalone', 'role', 'master', 'modules', []];
    expect(await value(c, 'HELLO')).toEqual(want);
    expect(await value(c, 'HELLO', '2', 'SETNAME', 'via-hello')).toEqual(want);
    expect(await value(c, 'CLIENT', 'GETNAME')).toBe('via-hello');
  });

  it("refuses what Redis refuses, with its texts: versions other than 2 and 3, options, names and users", async () => {
    const c = await fx.connect();
    const cases = [
      [['1'], 'NOPROTO unsupported protocol version'],
      [['4'], 'NOPROTO unsupported protocol version'],
      [['two'], 'ERR Protocol version is not an integer or out of range'],
      [['2', 'FLY'], "ERR Syntax error in HELLO option 'FLY'"],
      [['2', 'AUTH', 'default'], "ERR Syntax error in HELLO option 'AUTH'"],
      [['2', 'SETNAME', 'a b'], 'ERR Client names cannot contain spaces, newlines or special characters.'],
      [['2', 'AUTH', 'alice', 'secret'], 'WRONGPASS invalid username-password pair or user is disabled.'],
    ] as const;
    for (const [args, error] of cases) expect(await value(c, 'HELLO', ...args)).toEqual({ error });
    expect(await value(c, 'HELLO', '2', 'AUTH', 'default', 'anything')).toEqual(expect.arrayContaining(['proto', 2]));
  });

  it('HELLO 3 switches the connection to RESP3: a map for HELLO and CONFIG GET, `_` for nulls; HELLO 2 and RESET switch back', async () => {
    const c = await fx.connect();
    const id = (await value(c, 'CLIENT', 'ID')) as number;
    const raw = async (...words: string[]) => (await request(c, ...words)).raw;
    const hello3 = await raw('HELLO', '3');
    expect(hello3).toBe(
      `%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:${id}\r\n` +
        '$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n',
    );
    expect(await raw('GET', 'nope')).toBe('_\r\n');
    expect(await raw('MGET', 'nope')).toBe('*1\r\n_\r\n');
    expect(await raw('CONFIG', 'GET', 'databases')).toBe('%1\r\n$9\r\ndatabases\r\n$1\r\n1\r\n');
    expect(await value(c, 'CLIENT', 'INFO')).toMatch(/ resp=3 /);
    await raw('WATCH', 'w');
    await raw('SET', 'w', 'changed');
    await raw('MULTI');
    await raw('SET', 'x', '1');
    expect(await raw('EXEC')).toBe('_\r\n');
    expect(await raw('HELLO', '2')).toMatch(/^\*14\r\n/);
    expect(await raw('GET', 'nope')).toBe('$-1\r\n');
    await raw('HELLO', '3');
    expect(await raw('RESET')).toBe('+RESET\r\n');
    expect(await raw('GET', 'nope')).toBe('$-1\r\n');
  });

  it('answers AUTH as Redis does with no password set', async () => {
    const c = await fx.connect();
    expect(await value(c, 'AUTH', 'secret')).toEqual({
      error: 'ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?',
    });
    expect(await value(c, 'AUTH', 'default', 'secret')).toEqual({ status: 'OK' });
    expect(await value(c, 'AUTH', 'alice', 'secret')).toEqual({ error: 'WRONGPASS invalid username-password pair or user is disabled.' });
  });
});
