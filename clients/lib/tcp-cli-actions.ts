import { performance } from 'node:perf_hooks';
import { ExitCode, UsageError } from './cli-exit-codes.js';
import { quoteBytes, toJsonValue } from './cli-output.js';
import { formatRespReply, respToJson } from './resp-format.js';
import { parseInfo } from './resp-info.js';
import type { TcpClient } from './tcp-client.js';

/** What one kv-tcp command produced, before it is printed. */
export interface ActionResult {
  readonly exit: ExitCode;
  /** For stdout; one-shot `get` gives the raw value bytes here. */
  readonly out?: string | Buffer;
  /** For stderr in one-shot mode (not-found notes); the prompt shows it in place of `out`. */
  readonly note?: string;
  /** The --json object. */
  readonly json: Record<string, unknown>;
}

export interface ActionMode {
  /** At the interactive prompt: values are shown quoted, and any other command is passed through. */
  readonly interactive: boolean;
}

/** The commands kv-tcp knows by name, with their usage (shared by --help and the prompt's `help`). */
export const CLI_COMMANDS = {
  put: 'put KEY VALUE',
  get: 'get KEY',
  del: 'del KEY',
  ping: 'ping',
  stats: 'stats',
} as const;

const ALIASES: Record<string, keyof typeof CLI_COMMANDS> = { set: 'put', delete: 'del', info: 'stats' };

/** A key for JSON: text when it is UTF-8, else base64 flagged by `keyEncoding`. */
function jsonKey(key: Buffer): Record<string, unknown> {
  const k = toJsonValue(key);
  return k.encoding === 'utf8' ? { key: k.value } : { key: k.value, keyEncoding: 'base64' };
}

function printable(key: Buffer): string {
  return quoteBytes(key);
}

/**
 * Runs one command (`args[0]` is its name) and describes the outcome. Errors
 * (connection, timeout, server error replies) are thrown as KvErrors, and a
 * wrong argument count as UsageError, for the caller to report; not-found is an
 * outcome, with exit code 1.
 */
export async function runTcpAction(client: TcpClient, args: Buffer[], mode: ActionMode): Promise<ActionResult> {
  const typed = (args[0] as Buffer).toString('latin1').toLowerCase();
  const name = Object.hasOwn(ALIASES, typed) ? (ALIASES[typed] as string) : typed;
  const rest = args.slice(1);
  switch (name) {
    case 'put':
      if (rest.length !== 2) break;
      await client.set(rest[0] as Buffer, rest[1] as Buffer);
      return { exit: ExitCode.OK, out: 'OK', json: { command: 'put', ...jsonKey(rest[0] as Buffer), result: 'OK' } };
    case 'get': {
      if (rest.length !== 1) break;
      const key = rest[0] as Buffer;
      const value = await client.get(key);
      if (value === null) {
        return {
          exit: ExitCode.NOT_FOUND,
          out: mode.interactive ? '(nil)' : undefined,
          note: `not found: ${printable(key)}`,
          json: { command: 'get', ...jsonKey(key), found: false },
        };
      }
      return {
        exit: ExitCode.OK,
        out: mode.interactive ? quoteBytes(value) : value,
        json: { command: 'get', ...jsonKey(key), found: true, ...toJsonValue(value) },
      };
    }
    case 'del': {
      if (rest.length !== 1) break;
      const key = rest[0] as Buffer;
      const n = await client.del(key);
      return n > 0
        ? { exit: ExitCode.OK, out: 'DELETED', json: { command: 'del', ...jsonKey(key), deleted: n } }
        : {
            exit: ExitCode.NOT_FOUND,
            out: mode.interactive ? '(not found)' : undefined,
            note: `not found: ${printable(key)}`,
            json: { command: 'del', ...jsonKey(key), deleted: 0 },
          };
    }
    case 'ping': {
      if (rest.length > 1) break;
      const started = performance.now();
      const reply = await client.ping(rest[0]);
      const ms = Math.round((performance.now() - started) * 1000) / 1000;
      return { exit: ExitCode.OK, out: reply, json: { command: 'ping', result: reply, ms } };
    }
    case 'stats': {
      if (rest.length > 1) break;
      const text = await client.info(rest[0]?.toString('latin1'));
      return { exit: ExitCode.OK, out: text.replace(/\r\n/g, '\n').replace(/\n$/, ''), json: { command: 'stats', sections: parseInfo(text) } };
    }
  }
  if (mode.interactive) {
    // Anything else (EXISTS, DBSIZE, SET k v NX, a wrong argument count) goes to the
    // server as typed, and its reply is shown as redis-cli would show it.
    const reply = await client.command(args);
    return { exit: ExitCode.OK, out: formatRespReply(reply), json: { command: typed, reply: respToJson(reply) } };
  }
  if (Object.hasOwn(CLI_COMMANDS, name)) {
    throw new UsageError(`wrong number of arguments; usage: ${CLI_COMMANDS[name as keyof typeof CLI_COMMANDS]}`);
  }
  throw new UsageError(`unknown command '${typed}'; try: ${Object.values(CLI_COMMANDS).join(', ')}`);
}
