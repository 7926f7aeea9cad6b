#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import type tls from 'node:tls';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { isKvError } from '../src/errors.js';
import { ExitCode, exitCodeFor, UsageError, withCliDefaults } from './lib/cli-exit-codes.js';
import { formatJson, readAll, runCli, toJsonError, writeOut, writeResult } from './lib/cli-output.js';
import { runPrompt } from './lib/cli-prompt.js';
import { CLI_COMMANDS, runTcpAction, type ActionResult } from './lib/tcp-cli-actions.js';
import { DEFAULT_HOST, DEFAULT_PORT, DEFAULT_TIMEOUT_MS, TcpClient } from './lib/tcp-client.js';
import { readCredentials, type Credentials } from './lib/credentials.js';
import { formatAddress, resolveServers, takeServerFlags, type ServerAddress } from './lib/server-list.js';
import { FailoverSession } from './lib/tcp-failover.js';

const NAME = 'kv-tcp';

interface Flags {
  /** README "kv-tcp": tried in this order; a read fails over to the next, a write does not. */
  readonly servers: readonly ServerAddress[];
  readonly timeout: number;
  readonly json: boolean;
  readonly credentials: Credentials | null;
  /** README "TLS": connect over TLS with these options; undefined: plain TCP. */
  readonly tls: tls.ConnectionOptions | undefined;
}

/** The command chosen on the command line, as arguments for runTcpAction; null for the prompt. */
type Chosen = { readonly args: Buffer[]; readonly stdinValue: boolean } | null;

/**
 * A whole number from a flag or env var. Port and timeout are read as strings and
 * checked here: yargs's own number parsing turns a repeated `--port 1` into an increment.
 */
function wholeNumber(raw: string, what: string, min: number, max: number): number {
  const n = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`${what} must be a whole number from ${min} to ${max}; got ${JSON.stringify(raw)}`);
  return n;
}

/*
 * yargs reads a lone `-` as an empty flag (so `put KEY -` would lose it), and does
 * not fill positionals from words after `--`. Both are shielded before parsing
 * with a NUL prefix, which no real argv word can contain (argv is C strings),
 * and the prefix is taken off again after. A `-` after `--` is a literal dash.
 */
const SHIELD = '\0';
const STDIN_WORD = SHIELD + 'stdin';

function shieldArgv(argv: string[]): string[] {
  const out: string[] = [];
  let afterDashes = false;
  for (const a of argv) {
    if (!afterDashes && a === '--') afterDashes = true;
    else if (!afterDashes && a === '-') out.push(STDIN_WORD);
    else if (afterDashes && a.startsWith('-')) out.push(SHIELD + a);
    else out.push(a);
  }
  return out;
}

function unshield(v: unknown): string {
  const s = String(v);
  if (s === STDIN_WORD) return '-';
  return s.startsWith(SHIELD) ? s.slice(SHIELD.length) : s;
}

/** Parses the command line. Throws UsageError for anything wrong with it. */
async function parseArgs(argv: string[]): Promise<{ flags: Flags; chosen: Chosen }> {
  let chosen = null as Chosen;
  const pick = (name: string, ...rest: unknown[]) => {
    const strings = rest.map(unshield);
    chosen = { args: [name, ...strings].map((s) => Buffer.from(s, 'utf8')), stdinValue: name === 'put' && rest[1] === STDIN_WORD };
  };
  const { rest, values: serverFlags } = takeServerFlags(argv);
  const parsed = await withCliDefaults(
    yargs(shieldArgv(rest))
      .scriptName(NAME)
      .usage(
        `$0 [options] [command]\n\nTalks to a dualkv (or Redis) server over TCP, in RESP2. With no command, opens an interactive prompt\n` +
          `that takes the same commands (and any other the server knows), quoted like redis-cli; quit with 'quit' or Ctrl-D.`,
      )
      .parserConfiguration({ 'parse-numbers': false, 'parse-positional-numbers': false, 'dot-notation': false, 'duplicate-arguments-array': false })
      .option('server', {
        type: 'string',
        describe: 'A server as HOST:PORT ([::1]:7379 for IPv6); repeat it or separate with commas to list several, tried in order [env KV_SERVERS]',
      })
      .option('host', { type: 'string', describe: 'Server address, when there is one [env KV_HOST]', defaultDescription: DEFAULT_HOST })
      .option('port', { type: 'string', describe: 'Server TCP port, when there is one [env KV_PORT]', defaultDescription: String(DEFAULT_PORT) })
      .option('timeout', { type: 'string', default: String(DEFAULT_TIMEOUT_MS), describe: 'Milliseconds to connect, and then for each reply (0: wait forever)' })
      .option('json', { type: 'boolean', default: false, describe: 'Print one JSON object per command on stdout' })
      .option('user', { type: 'string', describe: 'User to AUTH as [env KV_USER; default: the default user]' })
      .option('password-file', { type: 'string', describe: 'File holding the password to AUTH with [or env KV_PASSWORD; never a flag, which ps shows]' })
      .option('tls', { type: 'boolean', default: false, describe: "Connect over TLS (a server's --tls-port); implied by the other --tls-* options" })
      .option('tls-ca', { type: 'string', describe: "CA certificates (PEM) to verify the server's certificate with [default: the system's]" })
      .option('tls-cert', { type: 'string', describe: 'Client certificate (PEM), for a server started with --tls-auth-clients' })
      .option('tls-key', { type: 'string', describe: "The client certificate's private key (PEM)" })
      .option('tls-servername', { type: 'string', describe: "Name the server's certificate must carry [default: --host]" })
      .group(['tls', 'tls-ca', 'tls-cert', 'tls-key', 'tls-servername'], 'TLS:')
      .command(['put <key> <value>', 'set'], 'Store VALUE under KEY; a VALUE of - reads it from stdin, bytes as they are', (y) =>
        y.positional('key', { type: 'string' }).positional('value', { type: 'string' }),
        (a) => pick('put', a.key, a.value),
      )
      .command('get <key>', "Print KEY's value: raw bytes, with no newline added unless stdout is a terminal", (y) => y.positional('key', { type: 'string' }), (a) =>
        pick('get', a.key),
      )
      .command(['del <key>', 'delete'], 'Delete KEY', (y) => y.positional('key', { type: 'string' }), (a) => pick('del', a.key))
      .command('ping', 'Check that the server answers', {}, () => pick('ping'))
      .command(['stats', 'info'], "Print the server's counters (INFO)", {}, () => pick('stats'))
      .command('$0', 'Interactive prompt (when no command is given)', {}, () => undefined)
      .example('$0 put greeting "hello world"', 'store a value')
      .example('$0 put photo - < photo.jpg', 'store a file, byte for byte')
      .example('$0 get photo > copy.jpg', 'fetch it back')
      .example('$0 --json get greeting', '{"command":"get","key":"greeting","found":true,"value":"hello world","encoding":"utf8"}')
      .epilogue(
        'Exit codes: 0 success, 1 key not found (get, del), 2 usage error, 3 cannot connect / connection lost / timeout, ' +
          '4 error reply from the server, 5 a write in doubt (the connection was lost after it was sent; it was not resent). Messages go to stderr.\nA value that starts with "-" goes after "--": kv-tcp put KEY -- -5 (and kv-tcp put KEY -- - stores a dash)',
      ),
      (m) => m.replaceAll(SHIELD, ''),
    ).parseAsync();

  const servers = resolveServers({ serverFlags, host: parsed.host, port: parsed.port, defaultHost: DEFAULT_HOST, defaultPort: DEFAULT_PORT });
  const timeout = wholeNumber(parsed.timeout, '--timeout (milliseconds; 0 waits forever)', 0, 2 ** 31 - 1);
  const credentials = readCredentials({ user: parsed.user, passwordFile: parsed['password-file'] });
  return { flags: { servers, timeout, json: parsed.json, credentials, tls: tlsOptions(parsed) }, chosen };
}

/** The --tls-* flags as node:tls options, files read; undefined when none is given. */
function tlsOptions(a: { tls: boolean; 'tls-ca'?: string; 'tls-cert'?: string; 'tls-key'?: string; 'tls-servername'?: string }): tls.ConnectionOptions | undefined {
  const ca = a['tls-ca'];
  const cert = a['tls-cert'];
  const key = a['tls-key'];
  const servername = a['tls-servername'];
  if (!a.tls && [ca, cert, key, servername].every((v) => v === undefined)) return undefined;
  if ((cert === undefined) !== (key === undefined)) throw new UsageError('--tls-cert and --tls-key go together: give both, or neither');
  const read = (flag: string, file: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new UsageError(`--${flag} ${file} cannot be read: ${(err as Error).message}`);
    }
  };
  return {
    ...(ca !== undefined ? { ca: read('tls-ca', ca) } : {}),
    ...(cert !== undefined && key !== undefined ? { cert: read('tls-cert', cert), key: read('tls-key', key) } : {}),
    ...(servername !== undefined ? { servername } : {}),
  };
}

function openSession(flags: Flags): FailoverSession {
  const connect = (s: ServerAddress) => TcpClient.connect({ host: s.host, port: s.port, timeoutMs: flags.timeout, credentials: flags.credentials, tls: flags.tls });
  return new FailoverSession(flags.servers, connect, { onFailover: (m) => process.stderr.write(`${NAME}: ${m}\n`) });
}

/** With several servers, --json says which one answered. */
function withServer(flags: Flags, r: ActionResult, session: FailoverSession): ActionResult {
  return flags.servers.length > 1 ? { ...r, json: { ...r.json, server: session.address } } : r;
}

/** One command, then exit: the code says what happened (see cli-exit-codes.ts). */
async function runOnce(flags: Flags, chosen: NonNullable<Chosen>): Promise<number> {
  const args = chosen.args;
  if (chosen.stdinValue) args[2] = await readAll(process.stdin);
  const session = openSession(flags);
  try {
    const result = withServer(flags, await session.run(args, (c) => runTcpAction(c, args, { interactive: false })), session);
    await printResult(flags, result, false);
    return result.exit;
  } catch (err) {
    await printError(flags, err, (args[0] as Buffer).toString('utf8'));
    return exitCodeFor(err);
  } finally {
    await session.close();
  }
}

async function printResult(flags: Flags, r: ActionResult, interactive: boolean): Promise<void> {
  if (flags.json) return writeOut(process.stdout, formatJson(r.json));
  if (interactive) return writeOut(process.stdout, `${(r.out ?? r.note ?? '').toString()}\n`);
  if (r.note !== undefined) await writeOut(process.stderr, `${NAME}: ${r.note}\n`);
  if (r.out !== undefined) await writeResult(r.out);
}

async function printError(flags: Flags, err: unknown, command: string): Promise<void> {
  const message = err instanceof Error ? err.message : String(err);
  if (flags.json) await writeOut(process.stdout, formatJson({ command, error: toJsonError(err) }));
  if (!(err instanceof UsageError) && !isKvError(err)) {
    await writeOut(process.stderr, `${NAME}: internal error (please report it): ${err instanceof Error ? (err.stack ?? message) : message}\n`);
  } else {
    await writeOut(process.stderr, `${NAME}: ${message}\n`);
  }
}

/**
 * The prompt: one connection for the session, opened again on the next command
 * if it drops, with the same failover rules as one command. Errors are shown and
 * the session goes on; it ends with exit 0 on `quit`, `exit` or end of input.
 */
async function runInteractive(flags: Flags): Promise<number> {
  const session = openSession(flags);
  await session.open();
  const terminal = Boolean(process.stdin.isTTY && process.stdout.isTTY);
  await runPrompt({
    input: process.stdin,
    output: process.stdout,
    terminal,
    prompt: `${formatAddress(flags.servers[0] as ServerAddress)}> `,
    async run(args) {
      const typed = (args[0] as Buffer).toString('utf8');
      if (typed.toLowerCase() === 'help' && args.length === 1) {
        await writeOut(process.stdout, `${Object.values(CLI_COMMANDS).join('\n')}\nany other server command (exists KEY, dbsize, ...)\nquit\n`);
        return;
      }
      try {
        await printResult(flags, withServer(flags, await session.run(args, (c) => runTcpAction(c, args, { interactive: true })), session), true);
      } catch (err) {
        if (flags.json) await writeOut(process.stdout, formatJson({ command: typed.toLowerCase(), error: toJsonError(err) }));
        else if (err instanceof UsageError || (isKvError(err) && err.code !== 'CONNECTION' && err.code !== 'TIMEOUT' && err.code !== 'IN_DOUBT')) {
          await writeOut(process.stdout, `(error) ${(err as Error).message}\n`);
        } else await printError(flags, err, typed);
      }
    },
    async onBadLine(message) {
      if (flags.json) await writeOut(process.stdout, formatJson({ error: { code: 'USAGE', message } }));
      else await writeOut(process.stdout, `(error) ${message}\n`);
    },
  });
  await session.close();
  return ExitCode.OK;
}

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = await parseArgs(hideBin(process.argv));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    await writeOut(process.stderr, `${NAME}: ${err.message}\nRun '${NAME} --help' for the commands and options.\n`);
    return ExitCode.USAGE;
  }
  const { flags, chosen } = parsed;
  if (chosen !== null) return runOnce(flags, chosen);
  try {
    return await runInteractive(flags);
  } catch (err) {
    await printError(flags, err, 'connect');
    return exitCodeFor(err);
  }
}

await runCli(NAME, main);
