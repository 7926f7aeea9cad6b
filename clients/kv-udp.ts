#!/usr/bin/env node
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { isKvError } from '../src/errors.js';
import { parseDuration } from './lib/cli-duration.js';
import { ExitCode, exitCodeFor, UsageError, withCliDefaults } from './lib/cli-exit-codes.js';
import { formatJson, readAll, runCli, toJsonError, writeOut, writeResult } from './lib/cli-output.js';
import { checkFits, describeEvent, runUdpAction, type UdpActionResult, type UdpCommand } from './lib/udp-cli-actions.js';
import type { UdpKey } from '../src/auth/users-file.js';
import { loadUdpKey } from './lib/udp-key.js';
import { resolveServers, takeServerFlags, type ServerAddress } from './lib/server-list.js';
import { DEFAULT_HOST, DEFAULT_MAX_DATAGRAM_SIZE, DEFAULT_PORT, DEFAULT_RETRY, TimeoutError, UdpClient } from './lib/udp-client.js';

const NAME = 'kv-udp';

interface Flags {
  /** README "kv-udp", several servers: a retry after a timeout goes to the next, with the same request ID. */
  readonly servers: readonly ServerAddress[];
  readonly spread: boolean;
  readonly timeout: number;
  readonly retries: number;
  readonly maxDatagramSize: number;
  readonly json: boolean;
  readonly verbose: boolean;
  readonly udpKey: UdpKey | null;
}

type Chosen = { readonly cmd: UdpCommand; readonly stdinValue: boolean };

const COMMANDS_NEEDED = 'a command is needed: put, get, del, getver, cas, cad, expire, persist, ping or stats';

function wholeNumber(raw: string, what: string, min: number, max: number): number {
  const n = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`${what} must be a whole number from ${min} to ${max}; got ${JSON.stringify(raw)}`);
  return n;
}

/*
 * As in kv-tcp: yargs reads a lone `-` as an empty flag and leaves words after
 * `--` out of the positionals, so both are shielded with a NUL prefix (argv, being
 * C strings, never holds one) and unshielded after parsing.
 */
const SHIELD = '\0';

function shieldArgv(argv: string[]): string[] {
  let afterDashes = false;
  return argv.flatMap((a) => {
    if (!afterDashes && a === '--') {
      afterDashes = true;
      return [];
    }
    return a === '-' || (afterDashes && a.startsWith('-')) ? [SHIELD + a] : [a];
  });
}

function unshield(v: unknown): string {
  const s = String(v);
  return s.startsWith(SHIELD) ? s.slice(SHIELD.length) : s;
}

const utf8 = (v: unknown) => Buffer.from(unshield(v), 'utf8');

/** A version as `getver` printed it. */
const version = (v: unknown) => wholeNumber(unshield(v), 'VERSION', 0, Number.MAX_SAFE_INTEGER);

/** --ttl and --keepttl, which put and cas share. */
function expiryFlags(a: { ttl?: string; keepttl?: boolean }): { ttlMs?: number; keepTtl?: boolean } {
  return { ttlMs: a.ttl === undefined ? undefined : parseDuration(a.ttl, '--ttl'), keepTtl: a.keepttl || undefined };
}

const EXPIRY_OPTIONS = {
  ttl: { type: 'string', describe: 'The key expires this long after the server stores it: 500ms, 10s, 5m, 2h, 7d' },
  keepttl: { type: 'boolean', describe: 'Keep the expiry the key has (a write otherwise clears it)', conflicts: 'ttl' },
} as const;

async function parseArgs(argv: string[]): Promise<{ flags: Flags; chosen: Chosen }> {
  let chosen: Chosen | null = null;
  const r = DEFAULT_RETRY;
  const { rest, values: serverFlags } = takeServerFlags(argv);
  const parsed = await withCliDefaults(
    yargs(shieldArgv(rest))
      .scriptName(NAME)
      .usage(
        '$0 [options] <command>\n\nTalks to a dualkv server over UDP: one checksummed datagram per request, resent with the same ' +
          'request ID (randomised exponential backoff) until a reply comes; the server applies a resent write (put, del, cas, cad, expire, persist) once.',
      )
      .parserConfiguration({ 'parse-numbers': false, 'parse-positional-numbers': false, 'dot-notation': false, 'duplicate-arguments-array': false })
      .option('server', {
        type: 'string',
        describe: 'A server as HOST:UDP-PORT ([::1]:7379 for IPv6); repeat it or separate with commas for several: a retry after a timeout goes to the next, with the same request ID [env KV_SERVERS]',
      })
      .option('spread', { type: 'boolean', default: false, describe: 'With several servers: start each request at the next one in turn (from a random one), not always at the first' })
      .option('host', { type: 'string', describe: 'Server address, when there is one [env KV_HOST]', defaultDescription: DEFAULT_HOST })
      .option('port', { type: 'string', describe: 'Server UDP port, when there is one [env KV_PORT]', defaultDescription: String(DEFAULT_PORT) })
      .option('timeout', { type: 'string', default: String(r.timeoutMs), describe: 'Milliseconds to wait for the first reply; each retry waits twice as long as the one before (x1 to x1.5 at random)' })
      .option('retries', { type: 'string', default: String(r.retries), describe: 'Resends after the first send before giving up' })
      .option('max-datagram-size', { type: 'string', default: String(DEFAULT_MAX_DATAGRAM_SIZE), describe: "Largest datagram to send (the server's --max-datagram-size)" })
      .option('json', { type: 'boolean', default: false, describe: 'Print one JSON object on stdout, with the attempts made and the time taken' })
      .option('verbose', { alias: 'v', type: 'boolean', default: false, describe: 'Show every send, retry and rejected reply on stderr' })
      .option('udp-key-file', { type: 'string', describe: 'Sign requests with the UDP key in this file (ID:HEX) [or env KV_UDP_KEY]' })
      .command(['put <key> <value>', 'set'], 'Store VALUE under KEY; a VALUE of - reads it from stdin, bytes as they are', (y) =>
        y.positional('key', { type: 'string' }).positional('value', { type: 'string' }).options(EXPIRY_OPTIONS),
        (a) => {
          chosen = { cmd: { name: 'put', key: utf8(a.key), value: utf8(a.value), ...expiryFlags(a) }, stdinValue: unshield(a.value) === '-' };
        },
      )
      .command('get <key>', "Print KEY's value: raw bytes, with a newline only when stdout is a terminal", (y) => y.positional('key', { type: 'string' }), (a) => {
        chosen = { cmd: { name: 'get', key: utf8(a.key) }, stdinValue: false };
      })
      .command(['del <key>', 'delete'], 'Delete KEY', (y) => y.positional('key', { type: 'string' }), (a) => {
        chosen = { cmd: { name: 'del', key: utf8(a.key) }, stdinValue: false };
      })
      .command('getver <key>', "Print KEY's version on a line, then its value (--json adds when it expires)", (y) => y.positional('key', { type: 'string' }), (a) => {
        chosen = { cmd: { name: 'getver', key: utf8(a.key) }, stdinValue: false };
      })
      .command(
        'cas <key> <version> <value>',
        'Store VALUE only if KEY is still at VERSION (0: only if KEY does not exist); prints the new version. ' +
          'Exit 1 and nothing changed when KEY is at another version',
        (y) => y.positional('key', { type: 'string' }).positional('version', { type: 'string' }).positional('value', { type: 'string' }).options(EXPIRY_OPTIONS),
        (a) => {
          chosen = {
            cmd: { name: 'cas', key: utf8(a.key), version: version(a.version), value: utf8(a.value), ...expiryFlags(a) },
            stdinValue: unshield(a.value) === '-',
          };
        },
      )
      .command('cad <key> <version>', 'Delete KEY only if it is still at VERSION; exit 1 and nothing changed when not', (y) =>
        y.positional('key', { type: 'string' }).positional('version', { type: 'string' }),
        (a) => {
          chosen = { cmd: { name: 'cad', key: utf8(a.key), version: version(a.version) }, stdinValue: false };
        },
      )
      .command('expire <key> <ttl>', 'KEY expires TTL from now (500ms, 10s, 5m, 2h, 7d; 0s deletes it)', (y) =>
        y.positional('key', { type: 'string' }).positional('ttl', { type: 'string' }),
        (a) => {
          chosen = { cmd: { name: 'expire', key: utf8(a.key), ttlMs: parseDuration(unshield(a.ttl), 'TTL') }, stdinValue: false };
        },
      )
      .command('persist <key>', 'KEY no longer expires; exit 1 when it does not exist or had no expiry', (y) => y.positional('key', { type: 'string' }), (a) => {
        chosen = { cmd: { name: 'persist', key: utf8(a.key) }, stdinValue: false };
      })
      .command('ping', 'Check that the server answers', {}, () => {
        chosen = { cmd: { name: 'ping' }, stdinValue: false };
      })
      .command(['stats [section]', 'info'], "Print the server's counters; all sections, or one (e.g. udp)", (y) => y.positional('section', { type: 'string' }), (a) => {
        chosen = { cmd: { name: 'stats', section: a.section === undefined ? undefined : unshield(a.section) }, stdinValue: false };
      })
      .demandCommand(1, COMMANDS_NEEDED)
      .example('$0 put greeting "hello world"', 'store a value')
      .example('$0 get greeting', 'print it')
      .example('$0 put session:42 alice --ttl 30m', 'a value that expires in 30 minutes')
      .example('$0 cas config 7 new', 'write only if config is still at version 7 (getver prints it)')
      .example('$0 --verbose --timeout 50 --retries 8 get greeting', 'show each retry on a lossy network')
      .example('$0 --json stats udp', '{"command":"stats","sections":{"udp":{"udp_rejected":0,...}}}')
      .epilogue(
        `With the defaults a request gives up after at most ${Math.round(r.timeoutMs * r.randomFactor * (2 ** (r.retries + 1) - 1))} ms: ` +
          'timeout x 1.5 x (2^(retries+1) - 1).\n' +
          'A port where nothing listens fails at once when the OS reports it (ICMP port unreachable), as a refused TCP connection does.\n' +
          'Exit codes: 0 success, 1 key not found (get, getver, del, expire, persist) or another version (cas, cad), 2 usage error, 3 nothing listening, or no reply after the retries, 4 error reply from the server. ' +
          'Messages go to stderr.\nValues are one datagram: for large ones use kv-tcp. A value that starts with "-" goes after "--": kv-udp put KEY -- -5',
      ),
      (m) => m.replaceAll(SHIELD, ''),
    ).parseAsync();
  if (chosen === null) throw new UsageError(COMMANDS_NEEDED);
  const flags: Flags = {
    servers: resolveServers({ serverFlags, host: parsed.host, port: parsed.port, defaultHost: DEFAULT_HOST, defaultPort: DEFAULT_PORT }),
    spread: parsed.spread,
    timeout: wholeNumber(parsed.timeout, '--timeout (milliseconds)', 1, 600_000),
    retries: wholeNumber(parsed.retries, '--retries', 0, 100),
    maxDatagramSize: wholeNumber(parsed['max-datagram-size'], '--max-datagram-size', 64, 65507),
    json: parsed.json,
    verbose: parsed.verbose,
    udpKey: loadUdpKey(parsed['udp-key-file']),
  };
  return { flags, chosen };
}

async function run(flags: Flags, chosen: Chosen): Promise<number> {
  let cmd = chosen.cmd;
  if (chosen.stdinValue && (cmd.name === 'put' || cmd.name === 'cas')) cmd = { ...cmd, value: await readAll(process.stdin) };
  checkFits(cmd, flags.maxDatagramSize);
  const client = await UdpClient.connect({
    servers: flags.servers,
    spread: flags.spread,
    timeoutMs: flags.timeout,
    retries: flags.retries,
    maxDatagramSize: flags.maxDatagramSize,
    udpKey: flags.udpKey ?? undefined,
    // Like kv-tcp's "connection refused": a port where nothing listens fails at once.
    // (With several servers the socket is not connected, and the OS reports nothing: timeouts decide.)
    failOnUnreachable: true,
    onEvent: flags.verbose ? (e) => process.stderr.write(`${NAME}: ${describeEvent(e)}\n`) : undefined,
  });
  try {
    const result = await runUdpAction(client, cmd);
    await print(flags, result);
    return result.exit;
  } finally {
    await client.close();
  }
}

async function print(flags: Flags, r: UdpActionResult): Promise<void> {
  if (flags.json) return writeOut(process.stdout, formatJson(r.json));
  if (r.note !== undefined) await writeOut(process.stderr, `${NAME}: ${r.note}\n`);
  if (r.out !== undefined) await writeResult(r.out);
}

async function printError(flags: Flags | null, err: unknown, command: string): Promise<void> {
  const message = err instanceof Error ? err.message : String(err);
  if (flags?.json) {
    const extra = err instanceof TimeoutError ? { attempts: err.attempts, ms: Math.round(err.elapsedMs) } : {};
    await writeOut(process.stdout, formatJson({ command, error: { ...toJsonError(err), ...extra } }));
  }
  if (err instanceof UsageError) {
    await writeOut(process.stderr, `${NAME}: ${message}\nRun '${NAME} --help' for the commands and options.\n`);
  } else if (isKvError(err)) {
    const hint = err instanceof TimeoutError && flags ? ` (--timeout ${flags.timeout} --retries ${flags.retries})` : '';
    await writeOut(process.stderr, `${NAME}: ${message}${hint}\n`);
  } else {
    await writeOut(process.stderr, `${NAME}: internal error (please report it): ${err instanceof Error ? (err.stack ?? message) : message}\n`);
  }
}

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = await parseArgs(hideBin(process.argv));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    await printError(null, err, '');
    return ExitCode.USAGE;
  }
  try {
    return await run(parsed.flags, parsed.chosen);
  } catch (err) {
    await printError(parsed.flags, err, parsed.chosen.cmd.name);
    return exitCodeFor(err);
  }
}

await runCli(NAME, main);
