import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';

describe('ioredis against the RESP2 dialect', () => {
  let srv: TestServer;
  let redis: Redis;

  beforeEach(async () => {
    srv = await startTestServer({ limits: { maxValueSize: 4 * 1024 * 1024 } });
    redis = new Redis({
      host: '127.0.0.1',
      port: srv.tcpPort,
      connectionName: 'ioredis-test',
      maxRetriesPerRequest: 0,
      retryStrategy: () => null, // a test never waits on reconnects
    });
  });

  afterEach(async () => {
    redis.disconnect();
    await srv.stop();
  });

  it('connects (ready check over INFO, CLIENT SETNAME and SETINFO) and round-trips GET, SET, DEL and EXISTS', async () => {
    expect(await redis.set('greeting', 'hello world')).toBe('OK');
    expect(await redis.get('greeting')).toBe('hello world');
    expect(await redis.exists('greeting', 'nothing', 'greeting')).toBe(2);
    expect(await redis.del('greeting', 'nothing')).toBe(1);
    expect(await redis.get('greeting')).toBeNull();
    expect(await redis.exists('greeting')).toBe(0);
    expect(await redis.client('GETNAME')).toBe('ioredis-test');
  });

  it('answers PING, ECHO and DBSIZE', async () => {
    expect(await redis.ping()).toBe('PONG');
    expect(await redis.ping('hi')).toBe('hi');
    expect(await redis.echo('echo me')).toBe('echo me');
    await redis.set('a', '1');
    await redis.set('b', '2');
    expect(await redis.dbsize()).toBe(2);
  });

  it('answers INFO in sections, as Redis does', async () => {
    await redis.set('a', '1');
    const info = await redis.info();
    expect(info).toContain('# Server\r\n');
    expect(info).toMatch(/\r\nconnected_clients:1\r\n/);
    // As Redis 7: commandstats is not a default section.
    expect(info).not.toContain('# Commandstats');
    expect(await redis.info('commandstats')).toMatch(/^# Commandstats\r\n(.*\r\n)*cmdstat_set:calls=1,/);
    const keyspace = await redis.info('keyspace');
    expect(keyspace).toBe('# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n');
  });

  it('answers CONFIG GET with name/value pairs, globs included', async () => {
    expect(await redis.config('GET', 'port')).toEqual(['port', String(srv.tcpPort)]);
    expect(await redis.config('GET', 'maxclients')).toEqual(['maxclients', '10000']);
    const limits = (await redis.config('GET', 'max-*-size')) as string[];
    expect(limits).toEqual(['max-key-size', '1024', 'max-value-size', String(4 * 1024 * 1024), 'max-line-size', '65536']);
    expect(await redis.config('GET', 'no-such-parameter')).toEqual([]);
  });

  it('answers COMMAND, COMMAND COUNT and COMMAND INFO', async () => {
    const all = (await redis.call('COMMAND')) as unknown[][];
    const names = all.map((c) => c[0]);
    for (const name of ['get', 'set', 'del', 'exists', 'ping', 'echo', 'dbsize', 'info', 'quit', 'command', 'config']) {
      expect(names).toContain(name);
    }
    expect(await redis.command('COUNT')).toBe(all.length);
    // Redis 7's ten fields: name, arity, flags, first, last, step, ACL categories, tips, key specs, subcommands.
    const keySpec = ['flags', ['RO', 'access'], 'begin_search', ['type', 'index', 'spec', ['index', 1]], 'find_keys', ['type', 'range', 'spec', ['lastkey', 0, 'keystep', 1, 'limit', 0]]];
    expect(await redis.command('INFO', 'get', 'nosuch')).toEqual([['get', 2, ['readonly', 'fast'], 1, 1, 1, ['@read', '@string', '@fast'], [], [keySpec], []], null]);
  });

  it('stores binary values byte for byte: a Buffer of every byte 0..255, read with getBuffer', async () => {
    const value = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const key = Buffer.from([0, 0xff, 0x0d, 0x0a, 0x20]);
    expect(await redis.set(key, value)).toBe('OK');
    const got = await redis.getBuffer(key);
    expect(got).toBeInstanceOf(Buffer);
    expect(got?.equals(value)).toBe(true);
    // And a large binary value, across many TCP reads.
    const big = Buffer.alloc(3 * 1024 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
    await redis.set('big', big);
    expect((await redis.getBuffer('big'))?.equals(big)).toBe(true);
  });

  it('runs a pipeline of 1000 commands, replies in order', async () => {
    const p = redis.pipeline();
    for (let i = 0; i < 500; i++) {
      p.set(`k${i}`, `v${i}`);
      p.get(`k${i}`);
    }
    const results = await p.exec();
    expect(results).toHaveLength(1000);
    for (let i = 0; i < 500; i++) {
      expect(results?.[2 * i]).toEqual([null, 'OK']);
      expect(results?.[2 * i + 1]).toEqual([null, `v${i}`]);
    }
    expect(await redis.dbsize()).toBe(500);
  });

  it('rejects an unknown command with a Redis-style error, and the connection goes on', async () => {
    await expect(redis.call('FLY', 'away')).rejects.toThrow("ERR unknown command 'FLY', with args beginning with: 'away' ");
    await expect(redis.call('GET')).rejects.toThrow("ERR wrong number of arguments for 'get' command");
    expect(await redis.ping()).toBe('PONG');
  });

  it('supports SET NX, XX and GET as Redis 7 does', async () => {
    expect(await redis.set('k', 'v1', 'NX')).toBe('OK');
    expect(await redis.set('k', 'v2', 'NX')).toBeNull();
    expect(await redis.set('k', 'v2', 'XX')).toBe('OK');
    expect(await redis.set('missing', 'v', 'XX')).toBeNull();
    expect(await redis.exists('missing')).toBe(0);
    expect(await redis.set('k', 'v3', 'GET')).toBe('v2');
    expect(await redis.set('k', 'v4', 'NX', 'GET')).toBe('v3'); // NX fails, GET still answers
    expect(await redis.get('k')).toBe('v3');
    expect(await redis.set('fresh', 'v', 'GET')).toBeNull();
    expect(await redis.get('fresh')).toBe('v');
    await expect(redis.call('SET', 'k', 'v', 'NX', 'XX')).rejects.toThrow('ERR syntax error');
    await expect(redis.call('SET', 'k', 'v', 'EX', '0')).rejects.toThrow("ERR invalid expire time in 'set' command");
    await expect(redis.call('SET', 'k', 'v', 'EX', 'soon')).rejects.toThrow('ERR value is not an integer or out of range');
    await expect(redis.call('SET', 'k', 'v', 'EX', '10', 'PX', '100')).rejects.toThrow('ERR syntax error');
    expect(await redis.get('k')).toBe('v3');
    expect(await redis.set('k', 'v5', 'EX', 100)).toBe('OK');
    expect(await redis.ttl('k')).toBe(100);
    expect(await redis.set('k', 'v6', 'KEEPTTL')).toBe('OK');
    expect(await redis.ttl('k')).toBe(100);
    expect(await redis.set('k', 'v7')).toBe('OK'); // a plain SET clears the expiry
    expect(await redis.ttl('k')).toBe(-1);
  });

  it('refuses a value over --max-value-size and keeps the connection usable', async () => {
    const tooBig = Buffer.alloc(4 * 1024 * 1024 + 1, 0x61);
    await expect(redis.set('k', tooBig)).rejects.toThrow(/^ERR argument of 4194305 bytes is over the limit/);
    expect(await redis.get('k')).toBeNull();
    expect(await redis.set('k', 'ok')).toBe('OK');
  });
});
