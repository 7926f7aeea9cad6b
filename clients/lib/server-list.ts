import net from 'node:net';
import { UsageError } from './cli-exit-codes.js';

/** One server (a gateway) a client may talk to. */
export interface ServerAddress {
  readonly host: string;
  readonly port: number;
}

/** `host:port`, with an IPv6 host in brackets (`[::1]:7379`), as it is typed. */
export function formatAddress(a: ServerAddress): string {
  return net.isIPv6(a.host) ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

const SERVER_FLAG = '--server';

/**
 * Takes every `--server X` and `--server=X` out of argv (up to a `--`), in order.
 * yargs keeps only the last of a repeated flag under our parser settings, and an
 * array flag would swallow the command words that follow it; so the list is read here.
 */
export function takeServerFlags(argv: readonly string[]): { rest: string[]; values: string[] } {
  const rest: string[] = [];
  const values: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    if (a === SERVER_FLAG) {
      const v = argv[i + 1];
      if (v === undefined || v.startsWith('--')) throw new UsageError('--server needs HOST:PORT, e.g. --server 10.0.0.1:7379 (IPv6: --server [::1]:7379)');
      values.push(v);
      i++;
    } else if (a.startsWith(`${SERVER_FLAG}=`)) values.push(a.slice(SERVER_FLAG.length + 1));
    else rest.push(a);
  }
  return { rest, values };
}

/** One `HOST:PORT` or `[IPv6]:PORT`; `what` names where it came from, for the message. */
export function parseServerAddress(text: string, what: string): ServerAddress {
  const s = text.trim();
  const fail = (why: string) => new UsageError(`${what}: ${JSON.stringify(text)} ${why}; write HOST:PORT, e.g. 10.0.0.1:7379, or [::1]:7379 for IPv6`);
  let host: string;
  let portText: string;
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0) throw fail('opens a [ that is not closed');
    host = s.slice(1, close);
    if (!net.isIPv6(host)) throw fail('has brackets around something that is not an IPv6 address');
    if (s[close + 1] !== ':') throw fail('has no :PORT after the ]');
    portText = s.slice(close + 2);
  } else {
    const colon = s.lastIndexOf(':');
    if (colon < 0) throw fail('has no port');
    host = s.slice(0, colon);
    portText = s.slice(colon + 1);
    if (host.includes(':')) throw fail('looks like an IPv6 address without brackets');
  }
  if (host === '') throw fail('has no host');
  if (!/^\d+$/.test(portText)) throw fail(portText === '' ? 'has no port' : `has a port that is not a number (${JSON.stringify(portText)})`);
  const port = Number(portText);
  if (port < 1 || port > 65535) throw fail(`has port ${port}, outside 1 to 65535`);
  return { host, port };
}

/** A comma-separated list of addresses (one flag's or KV_SERVERS's value). Empty items are mistakes, not skipped. */
export function parseServerList(text: string, what: string): ServerAddress[] {
  const items = text.split(',');
  if (items.some((i) => i.trim() === '')) throw new UsageError(`${what}: ${JSON.stringify(text)} has an empty entry; separate addresses with single commas`);
  return items.map((i) => parseServerAddress(i, what));
}

export interface ServerChoice {
  /** The --server values, in the order given. */
  readonly serverFlags: readonly string[];
  /** --host and --port when given on the command line (undefined: not given). */
  readonly host: string | undefined;
  readonly port: string | undefined;
  readonly defaultHost: string;
  readonly defaultPort: number;
}

/**
 * The servers to talk to, first to last (README "Several servers"):
 * --server (repeatable, comma-separated), else --host/--port, else KV_SERVERS,
 * else KV_HOST/KV_PORT, else the default. --server and --host/--port together
 * are a usage error: which one was meant is not clear.
 */
export function resolveServers(c: ServerChoice, env: NodeJS.ProcessEnv = process.env): ServerAddress[] {
  if (c.serverFlags.length > 0) {
    if (c.host !== undefined || c.port !== undefined) throw new UsageError('give --server, or --host and --port, not both');
    return c.serverFlags.flatMap((v) => parseServerList(v, '--server'));
  }
  if (c.host === undefined && c.port === undefined && env.KV_SERVERS) return parseServerList(env.KV_SERVERS, 'KV_SERVERS');
  const host = c.host ?? (env.KV_HOST || c.defaultHost);
  if (host.trim() === '') throw new UsageError('--host (or KV_HOST) must not be empty');
  const portText = c.port ?? (env.KV_PORT || String(c.defaultPort));
  const port = /^\d+$/.test(portText.trim()) ? Number(portText.trim()) : NaN;
  if (!Number.isSafeInteger(port) || port < 1 || port > 65535) throw new UsageError(`--port (or KV_PORT) must be a whole number from 1 to 65535; got ${JSON.stringify(portText)}`);
  return [{ host, port }];
}
