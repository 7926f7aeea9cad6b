import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type Proc } from '../../bench/lib/procs.js';
import { parseUsage } from '../../src/commands/command-docs.js';
import { COMMANDS } from '../../src/commands/table.js';
import { havePeer } from '../helpers/peers.js';
import { serverFixture } from '../helpers/server.js';
import { RawClient } from '../helpers/socket.js';
import { request, type RespValue } from '../frontends/resp-reader.js';

describe('COMMAND DOCS arguments, from a spec usage', () => {
  it('reads keys, tokens, options, one-ofs and repeats', () => {
    expect(parseUsage('SET key value [NX|XX] [GET] [EX s|PX ms|KEEPTTL]', 1)).toEqual([
      { name: 'key', type: 'key' },
      { name: 'value', type: 'string' },
      {
        name: 'nx-xx',
        type: 'oneof',
        optional: true,
        arguments: [
          { name: 'nx', type: 'pure-token', token: 'NX' },
          { name: 'xx', type: 'pure-token', token: 'XX' },
        ],
      },
      { name: 'get', type: 'pure-token', token: 'GET', optional: true },
      {
        name: 's-ms-keepttl',
        type: 'oneof',
        optional: true,
        arguments: [
          { name: 's', type: 'integer', token: 'EX' },
          { name: 'ms', type: 'integer', token: 'PX' },
          { name: 'keepttl', type: 'pure-token', token: 'KEEPTTL' },
        ],
      },
    ]);
    expect(parseUsage('DEL key [key ...]', 1)).toEqual([{ name: 'key', type: 'key', multiple: true }]);
    expect(parseUsage('CLIENT LIST [TYPE type] [ID id [id ...]]', 2)).toEqual([
      { name: 'type', type: 'string', token: 'TYPE', optional: true },
      { name: 'id', type: 'integer', token: 'ID', optional: true, multiple: true },
    ]);
    expect(parseUsage('PING', 1)).toEqual([]);
  });

  it('gives every command in the table docs redis-cli can read: a summary, a since, a group', () => {
    for (const spec of new Set(COMMANDS.values())) {
      for (const s of [spec, ...(spec.subcommands ?? [])]) {
        expect(() => parseUsage(s.usage, s.name.split('|').length)).not.toThrow();
        if (s.docs) expect(s.docs.summary.length).toBeGreaterThan(0);
      }
    }
  });
});

describe('COMMAND over RESP', () => {
  const fx = serverFixture();
  const value = async (...words: string[]): Promise<RespValue> => (await request(await fx.connect(), ...words)).value;

  it('answers COUNT, LIST (with FILTERBY), GETKEYS and their errors as Redis 7.0 does', async () => {
    const all = (await value('COMMAND')) as RespValue[][];
    expect(await value('COMMAND', 'COUNT')).toBe(all.length);
    const names = all.map((c) => c[0]);
    for (const n of ['get', 'set', 'client', 'command', 'config', 'hello', 'info', 'monitor', 'getver', 'cas']) expect(names).toContain(n);
    const list = (await value('COMMAND', 'LIST')) as string[];
    expect(list).toEqual(expect.arrayContaining(['client', 'client|list', 'command|docs', 'config|get']));
    expect(await value('COMMAND', 'LIST', 'FILTERBY', 'PATTERN', 'config|*')).toEqual(['config|get', 'config|help', 'config|resetstat', 'config|rewrite', 'config|set']);
    expect(await value('COMMAND', 'LIST', 'FILTERBY', 'ACLCAT', 'string')).toEqual(expect.arrayContaining(['get', 'set', 'getver']));
    expect(await value('COMMAND', 'LIST', 'FILTERBY', 'MODULE', 'x')).toEqual([]);
    expect(await value('COMMAND', 'LIST', 'nope')).toEqual({ error: 'ERR syntax error' });
    expect(await value('COMMAND', 'GETKEYS', 'DEL', 'a', 'b')).toEqual(['a', 'b']);
    expect(await value('COMMAND', 'GETKEYSANDFLAGS', 'GET', 'a')).toEqual([['a', [{ status: 'RO' }, { status: 'access' }]]]);
    expect(await value('COMMAND', 'GETKEYS', 'PING', 'x')).toEqual({ error: 'ERR The command has no key arguments' });
    expect(await value('COMMAND', 'GETKEYS', 'NOPE', 'x')).toEqual({ error: 'ERR Invalid command specified' });
    expect(await value('COMMAND', 'GETKEYS', 'GET', 'a', 'b')).toEqual({ error: 'ERR Invalid number of arguments specified for command' });
    expect(await value('COMMAND', 'GETKEYS', 'GET')).toEqual({ error: "ERR wrong number of arguments for 'command|getkeys' command" });
    expect(await value('COMMAND', 'FLY')).toEqual({ error: "ERR unknown subcommand 'FLY'. Try COMMAND HELP." });
    expect(await value('COMMAND', 'INFO', 'nope', 'client|list')).toEqual([null, expect.arrayContaining(['client|list', -2])]);
    expect(await value('COMMAND', 'DOCS', 'nope')).toEqual([]);
  });

  it("lists the arguments of the unknown command up to 128 bytes, as Redis 7.0 does", async () => {
    const c = await fx.connect();
    const long = 'x'.repeat(100);
    expect((await request(c, 'FLY', long, long, 'z')).value).toEqual({
      error: `ERR unknown command 'FLY', with args beginning with: '${long}' '${'x'.repeat(128 - 103)}' `,
    });
    expect((await request(c, 'FLY', 'a\r\nb')).value).toEqual({ error: "ERR unknown command 'FLY', with args beginning with: 'a  b' " });
  });
});

/** Commands both have; SET and GETEX are left out for their key specs' notes, which dualkv does not carry. */
const SHARED = ['get', 'del', 'exists', 'expire', 'pexpireat', 'ttl', 'pttl', 'expiretime', 'persist', 'getdel', 'setex', 'psetex', 'dbsize', 'ping', 'echo', 'info', 'select', 'quit', 'hello', 'monitor', 'save', 'auth',
  'mget', 'mset', 'msetnx', 'rename', 'renamenx', 'copy', 'unlink', 'randomkey', 'flushdb', 'flushall', 'scan', 'keys', 'time', 'multi', 'exec', 'discard', 'watch', 'unwatch', 'reset', 'shutdown',
  'incr', 'decr', 'incrby', 'decrby', 'incrbyfloat', 'append', 'strlen', 'getrange', 'substr', 'setrange', 'setnx', 'getset', 'type', 'touch', 'lcs', 'setbit', 'getbit'];
const SHARED_SUBS = ['client|list', 'client|kill', 'client|info', 'client|id', 'client|getname', 'client|setname', 'client|reply', 'client|no-evict', 'client|help', 'command|info', 'command|docs', 'command|count', 'command|list', 'command|getkeys', 'config|get', 'config|set', 'config|resetstat', 'config|rewrite', 'config|help'];

describe.skipIf(!havePeer('redis-server', 'redis-server'))('COMMAND INFO against a real redis-server 7.0', () => {
  const fx = serverFixture();
  let redis: Proc;
  let theirs: RawClient;
  beforeAll(async () => {
    redis = await startRedis([['appendonly', 'no']]);
    theirs = await RawClient.connect(redis.port);
  });
  afterAll(async () => {
    theirs?.close();
    await redis?.stop();
  });

  it('has the same ten fields, flags, ACL categories, tips and key specs for the commands both have', async () => {
    const ours = await fx.connect();
    const diffs: string[] = [];
    for (const name of [...SHARED, ...SHARED_SUBS]) {
      const [a, b] = await Promise.all([request(theirs, 'COMMAND', 'INFO', name), request(ours, 'COMMAND', 'INFO', name)]);
      if (a.raw !== b.raw) diffs.push(`${name}: redis ${a.raw}\n  dualkv ${b.raw}`);
    }
    expect(diffs).toEqual([]);
  });

  it('has the same summary, since, group and complexity in COMMAND DOCS', async () => {
    const ours = await fx.connect();
    const head = (v: RespValue) => {
      const pairs = ((v as RespValue[])[1] ?? []) as RespValue[];
      const out: Record<string, RespValue> = {};
      for (let i = 0; i < pairs.length; i += 2) if (['summary', 'since', 'group', 'complexity'].includes(pairs[i] as string)) out[pairs[i] as string] = pairs[i + 1] as RespValue;
      return out;
    };
    for (const name of ['get', 'set', 'exists', 'ttl', 'ping', 'info', 'hello', 'client|list', 'config|get']) {
      const [a, b] = await Promise.all([request(theirs, 'COMMAND', 'DOCS', name), request(ours, 'COMMAND', 'DOCS', name)]);
      expect({ name, ...head(b.value) }).toEqual({ name, ...head(a.value) });
    }
  });
});
