import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS } from '../src/config.js';
import { buildConfig, serverArgs } from '../src/server-flags.js';
import { ConfigError } from '../src/errors.js';
import { formatSize, parseSize } from '../src/sizes.js';

const MiB = 1024 * 1024;

async function config(...argv: string[]) {
  return buildConfig(await serverArgs(argv).parse());
}

async function refusal(...argv: string[]): Promise<string> {
  try {
    await config(...argv);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error(`${argv.join(' ')} was accepted`);
}

describe('sizes, as Redis reads them', () => {
  it.each([
    ['1048576', 1048576],
    [1024, 1024],
    ['64mb', 64 * MiB],
    ['64MB', 64 * MiB],
    ['1gb', 1024 ** 3],
    ['1k', 1000],
    ['1kb', 1024],
    ['2m', 2_000_000],
    ['3g', 3_000_000_000],
    ['512b', 512],
    [' 8mb ', 8 * MiB],
  ])('%j is %d bytes', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it.each(['', 'mb', '1.5mb', '-1', '1tb', '1 000', 'lots', '99999999999999999gb'])('%j is not a size', (text) => {
    expect(parseSize(text)).toBeNull();
  });

  it('prints sizes for people', () => {
    expect([formatSize(512), formatSize(64 * MiB), formatSize(1.5 * 1024 ** 3)]).toEqual(['512b', '64mb', '1.5gb']);
  });
});

describe('the hardening flags', () => {
  it('take their defaults: auto memory limit, 10% for clients, 64 MiB buffers, no idle timeout, loopback for large UDP replies', async () => {
    const c = await config();
    expect(c.memory).toEqual({ maxmemory: 'auto', maxmemoryClients: { percent: 10 }, policy: 'noeviction', samples: 5 });
    expect(c.limits).toMatchObject({ maxQueryBuffer: 64 * MiB, maxOutputBuffer: 64 * MiB, idleTimeoutSec: 0 });
    expect(c.logMaxBacklog).toBe(8 * MiB);
    expect(c.udp.largeRepliesTo).toEqual(['loopback']);
    expect(DEFAULT_LIMITS.maxQueryBuffer).toBe(64 * MiB);
  });

  it('size the query and output buffers to a larger --max-value-size when left on auto', async () => {
    const c = await config('--max-value-size', '100mb');
    expect(c.limits.maxQueryBuffer).toBe(101 * MiB);
    expect(c.limits.maxOutputBuffer).toBe(200 * MiB);
  });

  it('refuse a query or output buffer too small for the largest value, saying the range', async () => {
    expect(await refusal('--max-query-buffer', '1mb')).toMatch(/^--max-query-buffer must be a size from 2mb to 4gb/);
    expect(await refusal('--max-value-size', '8mb', '--max-output-buffer', '4mb')).toMatch(
      /^--max-output-buffer must be a size of at least 9mb \(room for the largest value\)/,
    );
  });

  it('read --maxmemory as auto, 0 (no limit) or a size, and nothing else', async () => {
    expect((await config('--maxmemory', '0')).memory.maxmemory).toBe(0);
    expect((await config('--maxmemory', '2gb')).memory.maxmemory).toBe(2 * 1024 ** 3);
    expect(await refusal('--maxmemory', 'lots')).toMatch(/^--maxmemory must be a size \(or auto; 0 for no limit\)/);
  });

  it('read --maxmemory-clients as a percentage or a size of at least 1 MiB', async () => {
    expect((await config('--maxmemory-clients', '25%')).memory.maxmemoryClients).toEqual({ percent: 25 });
    expect((await config('--maxmemory-clients', '256mb')).memory.maxmemoryClients).toBe(256 * MiB);
    expect(await refusal('--maxmemory-clients', '0%')).toMatch(/from 1% to 100%/);
    expect(await refusal('--maxmemory-clients', '200%')).toMatch(/from 1% to 100%/);
    expect(await refusal('--maxmemory-clients', '1000')).toMatch(/at least 1mb \(or a percentage of --maxmemory, such as 10%\)/);
  });

  it('read --udp-large-replies-to as loopback, any, addresses and CIDR blocks', async () => {
    expect((await config('--udp-large-replies-to', 'loopback, 10.0.0.0/8,fd00::/8,192.0.2.7')).udp.largeRepliesTo).toEqual([
      'loopback',
      '10.0.0.0/8',
      'fd00::/8',
      '192.0.2.7',
    ]);
    for (const bad of ['300.1.1.1', '10.0.0.0/33', 'fd00::/129', 'somewhere', '10.0.0.0/8/1']) {
      expect(await refusal('--udp-large-replies-to', bad)).toMatch(/is not loopback, any, an IP address or a CIDR block/);
    }
    expect(await refusal('--udp-large-replies-to', ' , ')).toMatch(/must name at least one/);
  });

  it('read --timeout in whole seconds, and --log-max-backlog as a size', async () => {
    expect((await config('--timeout', '300')).limits.idleTimeoutSec).toBe(300);
    expect(await refusal('--timeout', '-1')).toMatch(/^--timeout must be a whole number/);
    expect((await config('--log-max-backlog', '1mb')).logMaxBacklog).toBe(MiB);
    expect(await refusal('--log-max-backlog', '1kb')).toMatch(/^--log-max-backlog must be a size of at least 64kb/);
  });
});

describe('--keys-limit', () => {
  it('defaults to 1000000, takes 0 for no limit, and refuses a negative or fractional count', async () => {
    expect((await config()).limits.keysLimit).toBe(1_000_000);
    expect((await config('--keys-limit', '0')).limits.keysLimit).toBe(0);
    expect((await config('--keys-limit', '25')).limits.keysLimit).toBe(25);
    expect(await refusal('--keys-limit', '-1')).toMatch(/--keys-limit must be a whole number from 0/);
    expect(await refusal('--keys-limit', '2.5')).toMatch(/--keys-limit must be a whole number from 0/);
  });
});

describe('the TLS flags', () => {
  it('are off by default, and a TLS port with its files makes the TLS config (README "TLS")', async () => {
    expect((await config()).tls).toBeNull();
    expect((await config('--tls-port', '0', '--tls-cert', 'c.pem', '--tls-key', 'k.pem')).tls).toEqual({
      port: 0,
      httpsPort: null,
      cert: 'c.pem',
      key: 'k.pem',
      ca: null,
      authClients: 'no',
    });
    const both = await config('--https-port', '8443', '--tls-cert', 'c.pem', '--tls-key', 'k.pem', '--tls-ca', 'ca.pem', '--tls-auth-clients', 'yes');
    expect(both.tls).toMatchObject({ port: null, httpsPort: 8443, ca: 'ca.pem', authClients: 'yes' });
  });

  it('read KV_* variables as every flag does', async () => {
    const env = { KV_TLS_PORT: '6380', KV_TLS_CERT: 'c.pem', KV_TLS_KEY: 'k.pem', KV_TLS_AUTH_CLIENTS: 'no' };
    Object.assign(process.env, env);
    try {
      expect((await config()).tls).toMatchObject({ port: 6380, cert: 'c.pem', key: 'k.pem' });
    } finally {
      for (const k of Object.keys(env)) delete process.env[k];
    }
  });

  it('refuse a TLS port without a certificate and key, client checks without a CA, and TLS files with no TLS port', async () => {
    expect(await refusal('--tls-port', '0')).toMatch(/need --tls-cert and --tls-key/);
    expect(await refusal('--https-port', '0', '--tls-cert', 'c.pem')).toMatch(/need --tls-cert and --tls-key/);
    expect(await refusal('--tls-port', '0', '--tls-cert', 'c.pem', '--tls-key', 'k.pem', '--tls-auth-clients', 'optional')).toMatch(
      /--tls-auth-clients optional needs --tls-ca/,
    );
    expect(await refusal('--tls-cert', 'c.pem')).toMatch(/--tls-cert given without --tls-port or --https-port/);
    expect(await refusal('--tls-port', '0', '--tls-cert', 'c', '--tls-key', 'k', '--tls-auth-clients', 'maybe')).toMatch(/Invalid values/);
    expect(await refusal('--tls-port', '70000', '--tls-cert', 'c', '--tls-key', 'k')).toMatch(/--tls-port must be a whole number from 0 to 65535/);
  });
});

describe('authentication flags', () => {
  it('takes --users-file or --requirepass, with protected mode on unless --no-protected-mode', async () => {
    expect((await config()).auth).toEqual({ usersFile: null, requirepass: null, protectedMode: true });
    expect((await config('--requirepass', 'p', '--no-protected-mode')).auth).toEqual({ usersFile: null, requirepass: 'p', protectedMode: false });
    expect((await config('--users-file', '/etc/dualkv/users')).auth.usersFile).toBe('/etc/dualkv/users');
  });

  it('refuses both at once, without showing the password', async () => {
    const message = await refusal('--users-file', '/etc/dualkv/users', '--requirepass', 'hidden-pass-4b');
    expect(message).toMatch(/give --users-file or --requirepass \(KV_REQUIREPASS\), not both/);
    expect(message).not.toContain('hidden-pass-4b');
  });
});

describe('--backend and the engine flags (README "Gateways")', () => {
  it('is memory unless told otherwise, and a remote backend keeps no data dir', async () => {
    expect((await config()).backend).toEqual({ kind: 'memory' });
    const c = await config('--backend', 'etcd', '--etcd-endpoints', 'http://127.0.0.1:2379, 127.0.0.1:2479');
    expect(c.backend).toMatchObject({ kind: 'etcd', etcd: { endpoints: ['http://127.0.0.1:2379', '127.0.0.1:2479'], prefix: 'dualkv/', requestPrefix: 'dualkv.udp-requests/' } });
    expect(c.persistence.enabled).toBe(false);
  });

  it('refuses a remote backend without its addresses, and flags of another backend', async () => {
    expect(await refusal('--backend', 'etcd')).toMatch(/--etcd-endpoints is needed/);
    expect(await refusal('--backend', 'etcd', '--etcd-endpoints', 'ftp://x')).toMatch(/"ftp:\/\/x" is not http:\/\/host:port/);
    expect(await refusal('--redis-cluster-nodes', '127.0.0.1:7000')).toMatch(/--redis-cluster-nodes given with --backend memory/);
    expect(await refusal('--etcd-request-prefix', 'r/')).toMatch(/--etcd-request-prefix given with --backend memory/);
  });

  it('keeps the UDP request records out of the keys: a request prefix inside the key prefix (or around it) is refused', async () => {
    const etcd = ['--backend', 'etcd', '--etcd-endpoints', '127.0.0.1:2379'];
    expect((await config(...etcd, '--etcd-prefix', 'app/')).backend).toMatchObject({ etcd: { requestPrefix: 'app.udp-requests/' } });
    expect((await config(...etcd, '--etcd-prefix', 'app/', '--etcd-request-prefix', 'records/')).backend).toMatchObject({ etcd: { requestPrefix: 'records/' } });
    expect(await refusal(...etcd, '--etcd-prefix', 'app')).toMatch(/would fall among the keys/);
    expect(await refusal(...etcd, '--etcd-prefix', 'app/', '--etcd-request-prefix', 'app/udp/')).toMatch(/would fall among the keys/);
    expect(await refusal(...etcd, '--etcd-prefix', 'app/keys/', '--etcd-request-prefix', 'app/')).toMatch(/would fall among the keys/);
  });
});
