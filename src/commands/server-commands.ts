import { KvError } from '../errors.js';
import { EMPTY_ARRAY, errorReply, NIL, OK, PONG, type Reply } from '../protocol/reply.js';
import type { ByteString } from '../store/bytes.js';
import { compileGlob } from './glob.js';
import { renderInfo } from '../protocol/info-text.js';
import { RESP, TEXT, type Dialect } from './dialects.js';
import type { CommandSpec } from './types.js';


function bulk(v: string): Reply {
  return { t: 'bulk', v };
}

export function commandInfo(spec: CommandSpec): Reply {
  const flags: Reply[] = [bulk(spec.write ? 'write' : 'readonly')];
  return {
    t: 'array',
    items: [
      bulk(spec.name),
      { t: 'int', n: spec.arity },
      { t: 'array', items: flags },
      { t: 'int', n: spec.firstKey },
      { t: 'int', n: spec.lastKey },
      { t: 'int', n: spec.firstKey ? 1 : 0 },
    ],
  };
}

/** Commands about the server rather than the keys. COMMAND needs the table, so it is given later. */
export function serverCommands(table: () => ReadonlyMap<string, CommandSpec>): CommandSpec[] {
  const visible = (dialect: Dialect) => [...new Set(table().values())].filter((s) => dialect.groups.has(s.group));
  return [
    {
      name: 'ping',
      arity: -1,
      write: false,
      firstKey: 0,
      lastKey: 0,
      group: 'server',
      usage: 'PING [message]',
      run: (_c, _s, args) => (args.length === 1 ? PONG : args.length === 2 ? bulk(args[1] as string) : arityError('ping')),
    },
    {
      name: 'echo',
      arity: 2,
      write: false,
      firstKey: 0,
      lastKey: 0,
      group: 'server',
      usage: 'ECHO message',
      run: (_c, _s, args) => bulk(args[1] as string),
    },
    {
      name: 'info',
      arity: -1,
      write: false,
      firstKey: 0,
      lastKey: 0,
      group: 'info',
      usage: 'INFO [section]',
      run: (ctx, _s, args) => bulk(renderInfo(ctx.info(), args[1])),
    },
    {
      name: 'stats',
      arity: 1,
      write: false,
      firstKey: 0,
      lastKey: 0,
      group: 'server',
      usage: 'STATS',
      run: (ctx) => ({ t: 'stats', sections: ctx.info() }),
    },
    {
      name: 'save',
      arity: 1,
      write: false,
      firstKey: 0,
      lastKey: 0,
      group: 'server',
      usage: 'SAVE',
      run: (ctx) =>
        ctx.save ? ctx.save() : errorReply(new KvError('NOT_SUPPORTED', 'persistence is not enabled on this server')),
    },
    {
      name: 'quit',
      arity: -1,
      write: false,
      firstKey: 0,
      lastKey: 0,
      group: 'connection',
      runsInMulti: true,
      usage: 'QUIT',
      run(_c, s) {
        s.closing = true;
        return { t: 'goodbye' };
      },
    },
    {
      name: 'help',
      arity: 1,
      write: false,
      firstKey: 0,
      lastKey: 0,
      group: 'help',
      usage: 'HELP',
      run: () => ({
        t: 'status',
        s: 'HELP ' + visible(TEXT).map((c) => c.textUsage ?? c.usage).join(' | '),
      }),
    },
    {
      name: 'select',
      arity: 2,
      write: false,
      firstKey: 0,
      lastKey: 0,
      group: 'redis',
      usage: 'SELECT 0',
      run: (_c, _s, args) =>
        args[1] === '0' ? OK : errorReply(new KvError('NOT_SUPPORTED', 'DB index is out of range (dualkv has one database, 0)')),
    },
    {
      name: 'client',
      arity: -2,
      write: false,
      firstKey: 0,
      lastKey: 0,
      group: 'redis',
      usage: 'CLIENT SETNAME name | GETNAME | ID | SETINFO attr value',
      run(_c, s, args) {
        const sub = (args[1] as string).toUpperCase();
        if (sub === 'SETNAME' && args.length === 3) {
          s.name = args[2] as string;
          return OK;
        }
        if (sub === 'GETNAME' && args.length === 2) return s.name ? bulk(s.name) : NIL;
        if (sub === 'ID' && args.length === 2) return { t: 'int', n: s.id };
        if (sub === 'SETINFO' && args.length === 4) return OK;
        return errorReply(new KvError('NOT_SUPPORTED', `unknown subcommand or wrong number of arguments for 'CLIENT|${sub}'`));
      },
    },
    {
      name: 'command',
      arity: -1,
      write: false,
      firstKey: 0,
      lastKey: 0,
      group: 'redis',
      usage: 'COMMAND [COUNT | DOCS | INFO name ...]',
      run(_c, _s, args) {
        const specs = visible(RESP);
        if (args.length === 1) return { t: 'array', items: specs.map(commandInfo) };
        const sub = (args[1] as string).toUpperCase();
        if (sub === 'COUNT') return { t: 'int', n: specs.length };
        if (sub === 'DOCS') return EMPTY_ARRAY;
        if (sub === 'INFO') {
          return {
            t: 'array',
            items: args.slice(2).map((n) => {
              const spec = table().get(n.toLowerCase());
              return spec && RESP.groups.has(spec.group) ? commandInfo(spec) : NIL;
            }),
          };
        }
        return errorReply(new KvError('SYNTAX', `unknown subcommand '${args[1]}'. Try COMMAND HELP.`));
      },
    },
    {
      name: 'config',
      arity: -2,
      write: false,
      firstKey: 0,
      lastKey: 0,
      group: 'redis',
      usage: 'CONFIG GET parameter [parameter ...]',
      run(ctx, _s, args) {
        const sub = (args[1] as string).toUpperCase();
        if (sub !== 'GET') {
          return errorReply(
            new KvError('NOT_SUPPORTED', `CONFIG ${sub} is not supported; dualkv is configured by flags at start (see kv-server --help)`),
          );
        }
        if (args.length < 3) return arityError('config|get');
        const params = ctx.configParams();
        const items: Reply[] = [];
        const seen = new Set<string>();
        for (const pattern of args.slice(2) as ByteString[]) {
          const matches = compileGlob(pattern, true);
          for (const [k, v] of Object.entries(params)) {
            if (!seen.has(k) && matches(k)) {
              seen.add(k);
              items.push(bulk(k), bulk(v));
            }
          }
        }
        return { t: 'array', items };
      },
    },
  ];
}

/** Redis's wording; the text dialect's adds the usage. */
export function arityError(name: string, usage?: string): Reply {
  const message = `wrong number of arguments for '${name}' command`;
  return errorReply(new KvError('WRONG_ARITY', message, { textMessage: usage ? `${message}; usage: ${usage}` : undefined }));
}
