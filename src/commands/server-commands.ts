import { KvError } from '../errors.js';
import { errorReply, OK, PONG, type Reply } from '../protocol/reply.js';
import { clientCommand } from './client-commands.js';
import { aclCommand } from './acl-command.js';
import { authCommand, helloCommand } from './hello-command.js';
import { commandCommand, type TableView } from './command-command.js';
import { configCommand } from './config-command.js';
import { TEXT, type Dialect } from './dialects.js';
import { infoCommand } from './info-command.js';
import type { CommandSpec } from './types.js';

function bulk(v: string): Reply {
  return { t: 'bulk', v };
}

/** What every server command starts from; each names its Redis flags and docs. */
const base = { write: false, firstKey: 0, lastKey: 0 } as const;

/** Commands about the server rather than the keys. COMMAND needs the table, so it is given later. */
export function serverCommands(table: () => ReadonlyMap<string, CommandSpec>): CommandSpec[] {
  const view: TableView = {
    visible: (dialect: Dialect) => [...new Set(table().values())].filter((s) => dialect.groups.has(s.group)),
    byFullName(name) {
      const lower = name.toLowerCase();
      const bar = lower.indexOf('|');
      const top = table().get(bar < 0 ? lower : lower.slice(0, bar));
      return bar < 0 ? top : top?.subcommands?.find((s) => s.name === lower);
    },
  };
  return [
    {
      ...base,
      name: 'ping',
      arity: -1,
      group: 'server',
      usage: 'PING [message]',
      flags: ['fast'],
      tips: ['request_policy:all_shards', 'response_policy:all_succeeded'],
      acl: ['connection'],
      docs: { summary: 'Ping the server', since: '1.0.0', group: 'connection', complexity: 'O(1)' },
      run: (_c, _s, args) => (args.length === 1 ? PONG : args.length === 2 ? bulk(args[1] as string) : arityError('ping')),
    },
    {
      ...base,
      name: 'echo',
      arity: 2,
      group: 'server',
      usage: 'ECHO message',
      flags: ['loading', 'stale', 'fast'],
      acl: ['connection'],
      docs: { summary: 'Echo the given string', since: '1.0.0', group: 'connection', complexity: 'O(1)' },
      run: (_c, _s, args) => bulk(args[1] as string),
    },
    infoCommand,
    {
      ...base,
      name: 'stats',
      arity: 1,
      group: 'server',
      usage: 'STATS',
      flags: ['loading', 'stale'],
      acl: ['dangerous'],
      docs: { summary: "Every counter of INFO's sections (dualkv)", since: '0.1.0', group: 'server', complexity: 'O(1)' },
      run: (ctx) => ({ t: 'stats', sections: ctx.info() }),
    },
    {
      ...base,
      name: 'save',
      arity: 1,
      group: 'server',
      usage: 'SAVE',
      flags: ['admin', 'noscript', 'no_async_loading', 'no_multi'],
      docs: { summary: 'Synchronously save the dataset to disk', since: '1.0.0', group: 'server', complexity: 'O(N) where N is the total number of keys in all databases' },
      run: (ctx) =>
        ctx.save ? ctx.save() : errorReply(new KvError('NOT_SUPPORTED', 'persistence is not enabled on this server')),
    },
    {
      ...base,
      name: 'quit',
      arity: -1,
      group: 'connection',
      runsInMulti: true,
      usage: 'QUIT',
      flags: ['noscript', 'loading', 'stale', 'fast', 'no_auth', 'allow_busy'],
      acl: ['connection'],
      docs: { summary: 'Close the connection', since: '1.0.0', group: 'connection', complexity: 'O(1)' },
      run(_c, s) {
        s.closing = true;
        return { t: 'goodbye' };
      },
    },
    {
      ...base,
      name: 'monitor',
      arity: 1,
      // A stream connection's: the text dialect gets the lines too, one per command.
      group: 'connection',
      usage: 'MONITOR',
      flags: ['admin', 'noscript', 'loading', 'stale'],
      docs: { summary: 'Listen for all requests received by the server in real time', since: '1.0.0', group: 'server' },
      run(ctx, s) {
        if (ctx.monitors === undefined || s.conn === undefined) {
          return errorReply(new KvError('NOT_SUPPORTED', 'MONITOR needs a stream connection (TCP)'));
        }
        s.monitoring = true;
        ctx.monitors.add(s);
        return OK;
      },
    },
    {
      ...base,
      name: 'help',
      arity: 1,
      group: 'help',
      usage: 'HELP',
      run: () => ({
        t: 'status',
        s: 'HELP ' + view.visible(TEXT).map((c) => c.textUsage ?? c.usage).join(' | '),
      }),
    },
    {
      ...base,
      name: 'select',
      arity: 2,
      group: 'redis',
      usage: 'SELECT index',
      flags: ['loading', 'stale', 'fast'],
      acl: ['connection'],
      docs: { summary: 'Change the selected database for the current connection', since: '1.0.0', group: 'connection', complexity: 'O(1)' },
      run: (_c, _s, args) =>
        args[1] === '0' ? OK : errorReply(new KvError('NOT_SUPPORTED', 'DB index is out of range (dualkv has one database, 0)')),
    },
    clientCommand,
    aclCommand,
    helloCommand,
    authCommand,
    commandCommand(view),
    configCommand,
  ];
}

/** Redis's wording; the text dialect's adds the usage. `rejected`: refused before the command ran (its arity). */
export function arityError(name: string, usage?: string, rejected = false): Reply {
  const message = `wrong number of arguments for '${name}' command`;
  const err = new KvError('WRONG_ARITY', message, { textMessage: usage ? `${message}; usage: ${usage}` : undefined });
  return rejected ? { t: 'error', err, rejected: true } : errorReply(err);
}
