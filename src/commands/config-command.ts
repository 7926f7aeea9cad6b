import { KvError } from '../errors.js';
import { errorReply, OK, type Reply } from '../protocol/reply.js';
import type { ByteString } from '../store/bytes.js';
import { helpReply } from './command-command.js';
import { compileGlob } from './glob.js';
import type { CommandDocs, CommandSpec } from './types.js';
import { subcommand } from './subcommand.js';

/**
 * CONFIG, as Redis 7.0 shapes it (config.c). GET answers ctx.configParams, under
 * Redis's names; SET is refused with Redis's error shape, since dualkv is configured by
 * flags at start (see configSet); RESETSTAT resets what Redis's does.
 */

const CONFIG_HELP = [
  'GET <pattern>',
  '    Return parameters matching the glob-like <pattern> and their values.',
  'SET <directive> <value>',
  '    Set the configuration <directive> to <value>.',
  'RESETSTAT',
  '    Reset statistics reported by the INFO command.',
  'REWRITE',
  '    Rewrite the configuration file.',
];

function configGet(params: Record<string, string>, patterns: readonly ByteString[]): Reply {
  const entries: Array<[Reply, Reply]> = [];
  const seen = new Set<string>();
  for (const pattern of patterns) {
    const matches = compileGlob(pattern, true);
    for (const [k, v] of Object.entries(params)) {
      if (!seen.has(k) && matches(k)) {
        seen.add(k);
        entries.push([{ t: 'bulk', v: k }, { t: 'bulk', v }]);
      }
    }
  }
  return { t: 'map', entries };
}

/**
 * CONFIG SET: dualkv is configured by flags at start, so every parameter is, in Redis's
 * words, immutable. Setting one to the value it has is a no-op that answers OK (tools
 * that make sure of a setting go on); anything else gets Redis's error for the first
 * parameter at fault: an unknown one, one named twice, or one that would change.
 */
function configSet(params: Record<string, string>, args: readonly ByteString[]): Reply {
  if (args.length % 2 !== 0) return errorReply(new KvError('WRONG_ARITY', "wrong number of arguments for 'config|set' command"));
  const failed = (name: ByteString, why: string): Reply =>
    errorReply(new KvError('NOT_SUPPORTED', `CONFIG SET failed (possibly related to argument '${name}') - ${why}`));
  const seen = new Set<string>();
  for (let i = 2; i < args.length; i += 2) {
    const name = (args[i] as string).toLowerCase();
    if (params[name] === undefined) {
      return errorReply(new KvError('NOT_SUPPORTED', `Unknown option or number of arguments for CONFIG SET - '${args[i]}'`));
    }
    if (seen.has(name)) return failed(args[i] as string, 'duplicate parameter');
    seen.add(name);
  }
  for (let i = 2; i < args.length; i += 2) {
    if (args[i + 1] !== params[(args[i] as string).toLowerCase()]) {
      return failed(args[i] as string, "can't set immutable config (dualkv is configured by flags at start: restart kv-server with the new value, see kv-server --help)");
    }
  }
  return OK;
}

function sub(name: string, arity: number, usage: string, docs: Omit<CommandDocs, 'group'>, run: CommandSpec['run'], admin = true, tips?: string[]): CommandSpec {
  return subcommand('config', name, { arity, usage, flags: admin ? ['admin', 'noscript', 'loading', 'stale'] : ['loading', 'stale'], docs: { ...docs, group: 'server' }, tips, run });
}

const O_N_PARAMS = 'O(N) when N is the number of configuration parameters provided';

export const configCommand: CommandSpec = {
  name: 'config',
  arity: -2,
  write: false,
  firstKey: 0,
  lastKey: 0,
  group: 'redis',
  usage: 'CONFIG GET parameter [parameter ...] | SET | RESETSTAT | REWRITE | HELP',
  docs: { summary: 'A container for server configuration commands', since: '2.0.0', group: 'server', complexity: 'Depends on subcommand.' },
  run: () => errorReply(new KvError('SYNTAX', 'syntax error')),
  subcommands: [
    sub('get', -3, 'CONFIG GET parameter [parameter ...]', { summary: 'Get the values of configuration parameters', since: '2.0.0', complexity: O_N_PARAMS }, (ctx, _s, args) =>
      configGet(ctx.configParams(), args.slice(2)),
    ),
    sub('help', 2, 'CONFIG HELP', { summary: 'Show helpful text about the different subcommands', since: '5.0.0', complexity: 'O(1)' }, () => helpReply('CONFIG', CONFIG_HELP), false),
    sub('resetstat', 2, 'CONFIG RESETSTAT', { summary: 'Reset the stats returned by INFO', since: '2.0.0', complexity: 'O(1)' }, (ctx) => {
      ctx.stats.reset(ctx.backend.keyspaceInfo());
      return OK;
    }),
    sub('rewrite', 2, 'CONFIG REWRITE', { summary: 'Rewrite the configuration file with the in memory configuration', since: '2.8.0', complexity: 'O(1)' }, () =>
      // Redis's answer when it was started without a file: dualkv has none.
      errorReply(new KvError('NOT_SUPPORTED', 'The server is running without a config file')),
    ),
    sub('set', -4, 'CONFIG SET parameter value [parameter value ...]', { summary: 'Set configuration parameters to the given values', since: '2.0.0', complexity: O_N_PARAMS }, (ctx, _s, args) =>
      configSet(ctx.configParams(), args),
      true,
      ['request_policy:all_nodes', 'response_policy:all_succeeded'],
    ),
  ],
};
