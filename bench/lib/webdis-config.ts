/** webdis's JSON config file (/usr/share/doc/webdis/README.markdown, "webdis.json"). */

export interface WebdisConfigInput {
  readonly httpPort: number;
  readonly redisPort: number;
  readonly threads: number;
  readonly logfile: string;
}

/**
 * The config the benchmark runs webdis with: loopback only, in the foreground (so
 * that the benchmark owns the process), Debian's default verbosity and ACL, and one
 * Redis connection per thread as webdis defaults to.
 */
export function webdisConfig(c: WebdisConfigInput): Record<string, unknown> {
  return {
    redis_host: '127.0.0.1',
    redis_port: c.redisPort,
    redis_auth: null,
    http_host: '127.0.0.1',
    http_port: c.httpPort,
    threads: c.threads,
    daemonize: false,
    database: 0,
    acl: [{ disabled: ['DEBUG'] }],
    verbosity: 3,
    logfile: c.logfile,
  };
}
