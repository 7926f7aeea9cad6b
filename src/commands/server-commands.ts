import { KvError } from '../errors.js';
import { EMPTY_ARRAY, errorReply, NIL, OK, PONG, type Reply } from '../protocol/reply.js';
import type { StatSection } from '../stats.js';
import type { ByteString } from '../store/bytes.js';
import { compileGlob } from './glob.js';
import type { CommandSpec, Dialect } from './types.js';

const ALL = ['text', 'resp', 'udp'] as const;
const STREAM = ['text', 'resp'] as const;
const RESP_ONLY = ['resp'] as const;

/** Renders sections the way Redis's INFO does: `# Name` headers and `key:value` lines. */
export function renderInfo(sections: Record<string, StatSection>, only?: string): string {
  const want = only?.toLowerCase();
  const all = want === undefined || want === 'all' || want === 'everything' || want === 'default';
  let out = '';
  for (const [name, fields] of Object.entries(sections)) {
    if (!all && name !== want) continue;
    if (out) out += '\r\n';
    out += `# ${name.charAt(0).toUpperCase()}${name.slice(1)}\r\n`;
    for (const [k, v] of Object.entries(fields)) out += `${k}:${v}\r\n`;
  }
  return out;
}

/** The text dialect's STATS line: `STATS key=value key=value …`, all sections flattened. */
export function renderStatsLine(sections: Record<string, StatSection>): string {
  let out = 'STATS';
  for (const fields of Object.values(sections)) {
    for (const [k, v] of Object.entries(fields)) out += ` ${k}=${String(v).replace(/\s+/g, '_')}`;
  }
  return out;
}

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
  const visible = (dialect: Dialect) => [...new Set(table().values())].filter((s) => s.dialects.includes(dialect));
  return [
    {
      name: 'ping',
      arity: -1,
      write: false,
      firstKey: 0,
      lastKey: 0,
      dialects: ALL,
      usage: 'PING [message]',
      run: (_c, _s, args) => (args.length === 1 ? PONG : args.length === 2 ? bulk(args[1] as string) : arityError('ping')),
    },
    {
      name: 'echo',
      arity: 2,
      write: false,
      firstKey: 0,
      lastKey: 0,
      dialects: ALL,
      usage: 'ECHO message',
      run: (_c, _s, args) => bulk(args[1] as string),
    },
    {
      name: 'info',
      arity: -1,
      write: false,
      firstKey: 0,
      lastKey: 0,
      dialects: ['resp', 'udp'],
      usage: 'INFO [section]',
      run: (ctx, _s, args) => bulk(renderInfo(ctx.info(), args[1])),
    },
    {
      name: 'stats',
      arity: 1,
      write: false,
      firstKey: 0,
      lastKey: 0,
      dialects: ALL,
      usage: 'STATS',
      run: (ctx, s) => (s.dialect === 'text' ? { t: 'status', s: renderStatsLine(ctx.info()) } : bulk(renderInfo(ctx.info()))),
    },
    {
      name: 'save',
      arity: 1,
      write: false,
      firstKey: 0,
      lastKey: 0,
      dialects: ALL,
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
      dialects: STREAM,
      usage: 'QUIT',
      run(_c, s) {
        s.closing = true;
        return s.dialect === 'text' ? { t: 'status', s: 'BYE' } : OK;
      },
    },
    {
      name: 'help',
      arity: 1,
      write: false,
      firstKey: 0,
      lastKey: 0,
      dialects: ['text'],
      usage: 'HELP',
      run: () => ({
        t: 'status',
        s: 'HELP ' + visible('text').map((c) => c.usage).join(' | '),
      }),
    },
    {
      name: 'select',
      arity: 2,
      write: false,
      firstKey: 0,
      lastKey: 0,
      dialects: RESP_ONLY,
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
      dialects: RESP_ONLY,
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
      dialects: RESP_ONLY,
      usage: 'COMMAND [COUNT | DOCS | INFO name ...]',
      run(_c, _s, args) {
        const specs = visible('resp');
        if (args.length === 1) return { t: 'array', items: specs.map(commandInfo) };
        const sub = (args[1] as string).toUpperCase();
        if (sub === 'COUNT') return { t: 'int', n: specs.length };
        if (sub === 'DOCS') return EMPTY_ARRAY;
        if (sub === 'INFO') {
          return {
            t: 'array',
            items: args.slice(2).map((n) => {
              const spec = table().get(n.toLowerCase());
              return spec && spec.dialects.includes('resp') ? commandInfo(spec) : NIL;
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
      dialects: RESP_ONLY,
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

export function arityError(name: string, usage?: string): Reply {
  return errorReply(
    new KvError('WRONG_ARITY', `wrong number of arguments for '${name}' command${usage ? `; usage: ${usage}` : ''}`),
  );
}
