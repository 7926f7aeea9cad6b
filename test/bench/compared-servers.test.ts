import { describe, expect, it } from 'vitest';
import { chooseServers, COMPARED_SERVERS } from '../../bench/lib/compared-servers.js';

describe('--servers of the issue-12 benchmarks', () => {
  it('lists the servers in the order given', () => {
    expect(chooseServers('redis, kv-no-log-ops').map((s) => s.name)).toEqual([COMPARED_SERVERS.redis.name, COMPARED_SERVERS['kv-no-log-ops'].name]);
  });

  it('refuses an unknown server, naming the choices', () => {
    expect(() => chooseServers('redis,memcached')).toThrow(/unknown memcached; choose from redis, kv, kv-no-log-ops/);
  });

  it('needs Redis first, since every ratio is to it', () => {
    expect(() => chooseServers('kv,redis')).toThrow(/must start with redis/);
  });
});
