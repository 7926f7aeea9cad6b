import { describe, expect, it } from 'vitest';
import { webdisConfig } from '../../bench/lib/webdis-config.js';

describe("webdis's config", () => {
  const config = webdisConfig({ httpPort: 40001, redisPort: 40002, threads: 2, logfile: '/tmp/x/webdis.log' });

  it('listens on loopback only, on the given port, in front of the given redis-server', () => {
    expect(config).toMatchObject({ http_host: '127.0.0.1', http_port: 40001, redis_host: '127.0.0.1', redis_port: 40002 });
  });

  it('stays in the foreground, so that the benchmark owns and stops the process', () => {
    expect(config.daemonize).toBe(false);
    expect(config).not.toHaveProperty('pidfile');
  });

  it('logs into the given file, with the given threads', () => {
    expect(config).toMatchObject({ logfile: '/tmp/x/webdis.log', threads: 2 });
  });
});
