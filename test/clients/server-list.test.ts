import { describe, expect, it } from 'vitest';
import { UsageError } from '../../clients/lib/cli-exit-codes.js';
import { formatAddress, parseServerList, resolveServers, takeServerFlags } from '../../clients/lib/server-list.js';

const choice = (serverFlags: string[], host?: string, port?: string) => ({ serverFlags, host, port, defaultHost: '127.0.0.1', defaultPort: 7379 });

describe('server addresses (--server, KV_SERVERS)', () => {
  it('reads HOST:PORT and [IPv6]:PORT, comma-separated and repeated, in order', () => {
    const { rest, values } = takeServerFlags(['--server', 'a:1', '--server=b:2,[::1]:3', 'get', 'k', '--', '--server']);
    expect(rest).toEqual(['get', 'k', '--', '--server']);
    expect(resolveServers(choice(values), {})).toEqual([
      { host: 'a', port: 1 },
      { host: 'b', port: 2 },
      { host: '::1', port: 3 },
    ]);
    expect(formatAddress({ host: '::1', port: 3 })).toBe('[::1]:3');
  });

  it('takes KV_SERVERS when no flag names a server, and --host/--port (or KV_HOST/KV_PORT) as one address', () => {
    expect(resolveServers(choice([]), { KV_SERVERS: 'x:1,y:2' })).toEqual([
      { host: 'x', port: 1 },
      { host: 'y', port: 2 },
    ]);
    expect(resolveServers(choice([], 'h', '9'), { KV_SERVERS: 'x:1' })).toEqual([{ host: 'h', port: 9 }]);
    expect(resolveServers(choice([]), { KV_HOST: 'e', KV_PORT: '8' })).toEqual([{ host: 'e', port: 8 }]);
    expect(resolveServers(choice([]), {})).toEqual([{ host: '127.0.0.1', port: 7379 }]);
  });

  it.each([
    ['127.0.0.1', /has no port/],
    ['::1:7379', /IPv6 address without brackets/],
    ['[::1]7379', /no :PORT after the \]/],
    ['[nope]:1', /not an IPv6 address/],
    [':7379', /has no host/],
    ['h:99999', /outside 1 to 65535/],
    ['h:x', /not a number/],
    ['a:1,,b:2', /empty entry/],
  ])('refuses %s with a message that says what to write', (text, why) => {
    expect(() => parseServerList(text, '--server')).toThrow(UsageError);
    expect(() => parseServerList(text, '--server')).toThrow(why);
    expect(() => parseServerList(text, '--server')).toThrow(/HOST:PORT|separate/);
  });

  it('refuses --server together with --host or --port, and a --server with no value', () => {
    expect(() => resolveServers(choice(['a:1'], undefined, '5'), {})).toThrow(/not both/);
    expect(() => takeServerFlags(['--server'])).toThrow(/needs HOST:PORT/);
  });
});
