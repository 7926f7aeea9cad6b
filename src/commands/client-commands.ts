import { performance } from 'node:perf_hooks';
import { KvError } from '../errors.js';
import { errorReply, OK, type Reply } from '../protocol/reply.js';
import type { ByteString } from '../store/bytes.js';
import { helpReply } from './command-command.js';
import type { CommandContext, CommandDocs, CommandSpec, Session } from './types.js';
import { subcommand } from './subcommand.js';

/**
 * CLIENT, as Redis 7.0 answers it (networking.c clientCommand), over the stream
 * clients the front-end registers (ctx.clients).
 * CLIENT SETINFO is Redis 7.2's: clients send it on connecting (and ignore an error),
 * and CLIENT LIST then shows lib-name and lib-ver after Redis 7.0's fields, as 7.2 does.
 */

const bulk = (v: string): Reply => ({ t: 'bulk', v });
/** CLIENT LIST and INFO's lines: RESP3 sends them as verbatim text, as Redis 7.0 does. */
const text = (v: string): Reply => ({ t: 'bulk', v, verbatim: true });
const int = (n: number): Reply => ({ t: 'int', n });
const syntaxError = (): Reply => errorReply(new KvError('SYNTAX', 'syntax error'));
const err = (message: string): Reply => errorReply(new KvError('SYNTAX', message));

/** Redis's rule for names and SETINFO values: printable ASCII with no space, so that CLIENT LIST splits on spaces. */
export function validAttr(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

export const BAD_NAME = 'Client names cannot contain spaces, newlines or special characters.';

/** CLIENT LIST's flags for a session (catClientInfoString): O monitor, x in MULTI, c closing, e no-evict, else N. */
function flagsOf(s: Session): string {
  let f = '';
  if (s.monitoring) f += 'O';
  if (s.multi !== null) f += 'x';
  if (s.closing) f += 'c';
  if (s.conn?.noEvict) f += 'e';
  return f || 'N';
}

/** The bytes `args` take as a RESP multibulk: the request being run, which Redis counts in its own query buffer. */
function requestBytes(args: readonly ByteString[]): number {
  let n = `*${args.length}\r\n`.length;
  for (const a of args) n += `$${a.length}\r\n`.length + a.length + 2;
  return n;
}

/** One CLIENT LIST line; `current` is the request `self` is running (CLIENT LIST or INFO itself). */
export function clientLine(s: Session, self: Session, current: readonly ByteString[]): string {
  const c = s.conn;
  const now = performance.now();
  const running = s === self;
  const qbuf = (c?.queryBytes ?? 0) + (running ? requestBytes(current) : 0);
  const argvMem = running ? current.reduce((n, a) => n + a.length, 0) : 0;
  const omem = c?.outputBytes ?? 0;
  const rbs = c?.replyBufferBytes ?? 0;
  const fields: Array<[string, string | number]> = [
    ['id', s.id],
    ['addr', s.client],
    ['laddr', c?.localAddress ?? ''],
    ['fd', c?.fd ?? -1],
    ['name', s.name],
    ['age', c ? Math.floor((now - c.createdAt) / 1000) : 0],
    ['idle', c ? Math.floor((now - c.lastActiveAt) / 1000) : 0],
    ['flags', flagsOf(s)],
    ['db', 0],
    ['sub', 0],
    ['psub', 0],
    ['ssub', 0],
    ['multi', s.multi === null ? -1 : s.multi.commands.length],
    ['qbuf', qbuf],
    ['qbuf-free', 0],
    ['argv-mem', argvMem],
    ['multi-mem', 0],
    ['rbs', rbs],
    ['rbp', rbs],
    ['obl', 0],
    ['oll', omem > 0 ? 1 : 0],
    ['omem', omem],
    ['tot-mem', qbuf + argvMem + omem + rbs],
    ['events', omem > 0 ? 'rw' : 'r'],
    ['cmd', c?.lastCommand ?? 'NULL'],
    ['user', s.user?.name ?? 'default'],
    ['redir', -1],
    ['resp', s.protocol ?? 2],
    ['lib-name', c?.libName ?? ''],
    ['lib-ver', c?.libVer ?? ''],
  ];
  return fields.map(([k, v]) => `${k}=${v}`).join(' ');
}

/** Redis's client types; dualkv's clients are all `normal`. */
const CLIENT_TYPES = new Set(['normal', 'master', 'replica', 'slave', 'pubsub']);

function clientList(ctx: CommandContext, self: Session, args: ByteString[]): Reply {
  const all = [...(ctx.clients?.sessions() ?? [self])];
  let chosen = all;
  if (args.length === 4 && (args[2] as string).toLowerCase() === 'type') {
    const type = (args[3] as string).toLowerCase();
    if (!CLIENT_TYPES.has(type)) return err(`Unknown client type '${args[3]}'`);
    chosen = type === 'normal' ? all : [];
  } else if (args.length > 3 && (args[2] as string).toLowerCase() === 'id') {
    chosen = [];
    for (const raw of args.slice(3)) {
      if (!/^-?\d{1,19}$/.test(raw)) return err('Invalid client ID');
      const s = ctx.clients?.byId(Number(raw)) ?? (self.id === Number(raw) ? self : undefined);
      if (s !== undefined) chosen.push(s);
    }
  } else if (args.length !== 2) {
    return syntaxError();
  }
  return text(chosen.map((s) => clientLine(s, self, args) + '\n').join(''));
}

interface KillFilter {
  addr?: string;
  laddr?: string;
  id?: number;
  /** A type no dualkv client has (master, replica, pubsub): nothing matches. */
  noneOfType?: boolean;
  skipme: boolean;
  /** Clients authenticated as this user. */
  user?: string;
}

function parseKill(ctx: CommandContext, args: ByteString[]): KillFilter | Reply {
  // The old form, CLIENT KILL addr, may kill the caller itself.
  if (args.length === 3) return { addr: args[2] as string, skipme: false };
  const f: KillFilter = { skipme: true };
  for (let i = 2; i < args.length; i += 2) {
    const opt = (args[i] as string).toLowerCase();
    const value = args[i + 1];
    if (value === undefined) return syntaxError();
    if (opt === 'id') {
      const n = /^\d{1,19}$/.test(value) ? Number(value) : 0;
      if (n < 1 || n > Number.MAX_SAFE_INTEGER) return err('client-id should be greater than 0');
      f.id = n;
    } else if (opt === 'type') {
      const type = value.toLowerCase();
      if (!CLIENT_TYPES.has(type)) return err(`Unknown client type '${value}'`);
      if (type !== 'normal') f.noneOfType = true;
    } else if (opt === 'addr') {
      f.addr = value;
    } else if (opt === 'laddr') {
      f.laddr = value;
    } else if (opt === 'user') {
      const known = ctx.access?.required === true ? ctx.access.userNames() : ['default'];
      if (!known.includes(value)) return err(`No such user '${value}'`);
      f.user = value;
    } else if (opt === 'skipme') {
      const v = value.toLowerCase();
      if (v !== 'yes' && v !== 'no') return syntaxError();
      f.skipme = v === 'yes';
    } else {
      return syntaxError();
    }
  }
  return f;
}

/** CLIENT KILL: another client is closed at once; the caller, after this reply. */
function clientKill(ctx: CommandContext, self: Session, args: ByteString[]): Reply {
  const f = parseKill(ctx, args);
  if (!('skipme' in f)) return f;
  let killed = 0;
  for (const s of [...(ctx.clients?.sessions() ?? [self])]) {
    if (f.noneOfType) break;
    if (f.addr !== undefined && s.client !== f.addr) continue;
    if (f.laddr !== undefined && s.conn?.localAddress !== f.laddr) continue;
    if (f.id !== undefined && s.id !== f.id) continue;
    if (f.user !== undefined && (s.user?.name ?? 'default') !== f.user) continue;
    if (s === self && f.skipme) continue;
    if (s === self) self.closing = true;
    else s.conn?.kill();
    killed++;
  }
  if (args.length === 3) return killed === 0 ? err('No such client') : OK;
  return int(killed);
}

function onOff(args: ByteString[], apply: (on: boolean) => void): Reply {
  const v = (args[2] as string).toLowerCase();
  if (v !== 'on' && v !== 'off') return syntaxError();
  apply(v === 'on');
  return OK;
}

const CLIENT_HELP = [
  'GETNAME',
  '    Return the name of the current connection.',
  'ID',
  '    Return the ID of the current connection.',
  'INFO',
  '    Return information about the current client connection.',
  'KILL <ip:port>',
  '    Kill connection made from <ip:port>.',
  'KILL <option> <value> [<option> <value> [...]]',
  '    Kill connections. Options are:',
  '    * ADDR (<ip:port>|<unixsocket>:0)',
  '      Kill connections made from the specified address',
  '    * LADDR (<ip:port>|<unixsocket>:0)',
  '      Kill connections made to specified local address',
  '    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)',
  '      Kill connections by type.',
  '    * USER <username>',
  '      Kill connections authenticated by <username>.',
  '    * SKIPME (YES|NO)',
  '      Skip killing current connection (default: yes).',
  'LIST [options ...]',
  '    Return information about client connections. Options:',
  '    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)',
  '      Return clients of specified type.',
  'REPLY (ON|OFF|SKIP)',
  '    Control the replies sent to the current connection.',
  'SETNAME <name>',
  '    Assign the name <name> to the current connection.',
  'SETINFO <option> <value>',
  '    Set client meta attr. Options are:',
  '    * LIB-NAME: the client lib name.',
  '    * LIB-VER: the client lib version.',
  'NO-EVICT (ON|OFF)',
  '    Protect current client connection from eviction.',
];

const CONNECTION_FLAGS = ['noscript', 'loading', 'stale'] as const;

function sub(name: string, arity: number, usage: string, docs: Omit<CommandDocs, 'group'>, run: CommandSpec['run'], more: Partial<CommandSpec> = {}): CommandSpec {
  return { ...subcommand('client', name, { arity, usage, flags: [...CONNECTION_FLAGS], acl: ['connection'], docs: { ...docs, group: 'connection' }, run }), ...more };
}

const ADMIN_FLAGS = ['admin', ...CONNECTION_FLAGS] as const;
const O_N_CLIENTS = 'O(N) where N is the number of client connections';

export const clientCommand: CommandSpec = {
  name: 'client',
  arity: -2,
  write: false,
  firstKey: 0,
  lastKey: 0,
  group: 'redis',
  usage: 'CLIENT LIST | INFO | ID | KILL | GETNAME | SETNAME name | SETINFO attr value | REPLY ON|OFF|SKIP | NO-EVICT ON|OFF | HELP',
  docs: { summary: 'A container for client connection commands', since: '2.4.0', group: 'connection', complexity: 'Depends on subcommand.' },
  // Only reached as CLIENT alone: its arity error. A subcommand runs its own spec.
  run: () => syntaxError(),
  subcommands: [
    sub('getname', 2, 'CLIENT GETNAME', { summary: 'Get the current connection name', since: '2.6.9', complexity: 'O(1)' }, (_c, s) =>
      s.name ? bulk(s.name) : { t: 'nil' },
    ),
    sub('help', 2, 'CLIENT HELP', { summary: 'Show helpful text about the different subcommands', since: '5.0.0', complexity: 'O(1)' }, () => helpReply('CLIENT', CLIENT_HELP), {
      flags: ['loading', 'stale'],
    }),
    sub('id', 2, 'CLIENT ID', { summary: 'Returns the client ID for the current connection', since: '5.0.0', complexity: 'O(1)' }, (_c, s) => int(s.id)),
    sub(
      'info',
      2,
      'CLIENT INFO',
      { summary: 'Returns information about the current client connection.', since: '6.2.0', complexity: 'O(1)' },
      (_c, s, args) => text(clientLine(s, s, args) + '\n'),
      { tips: ['nondeterministic_output'] },
    ),
    sub('kill', -3, 'CLIENT KILL ip:port | CLIENT KILL [ID id] [TYPE type] [ADDR ip:port] [LADDR ip:port] [USER username] [SKIPME yes/no]', { summary: 'Kill the connection of a client', since: '2.4.0', complexity: O_N_CLIENTS }, clientKill, {
      flags: [...ADMIN_FLAGS],
    }),
    sub('list', -2, 'CLIENT LIST [TYPE type] [ID id [id ...]]', { summary: 'Get the list of client connections', since: '2.4.0', complexity: O_N_CLIENTS }, clientList, {
      flags: [...ADMIN_FLAGS],
      tips: ['nondeterministic_output'],
    }),
    sub('no-evict', 3, 'CLIENT NO-EVICT on/off', { summary: 'Set client eviction mode for the current connection', since: '7.0.0', complexity: 'O(1)' }, (_c, s, args) =>
      onOff(args, (on) => {
        if (s.conn) s.conn.noEvict = on;
      }), { flags: [...ADMIN_FLAGS] },
    ),
    sub('reply', 3, 'CLIENT REPLY on/off/skip', { summary: 'Instruct the server whether to reply to commands', since: '3.2.0', complexity: 'O(1)' }, (_c, s, args) => {
      const v = (args[2] as string).toLowerCase();
      if (v === 'on') s.replyMode = 'on';
      else if (v === 'off') s.replyMode = 'off';
      else if (v === 'skip') {
        if (s.replyMode !== 'off') s.replyMode = 'skip';
      } else return syntaxError();
      return OK;
    }),
    sub('setinfo', 4, 'CLIENT SETINFO LIB-NAME|LIB-VER value', { summary: 'Set client or connection specific info', since: '7.2.0', complexity: 'O(1)' }, (_c, s, args) => {
      const attr = args[2] as string;
      const value = args[3] as string;
      const which = attr.toLowerCase();
      if (which !== 'lib-name' && which !== 'lib-ver') return err(`Unrecognized option '${attr}'`);
      if (!validAttr(value)) return err(`${attr} cannot contain spaces, newlines or special characters.`);
      if (s.conn) {
        if (which === 'lib-name') s.conn.libName = value;
        else s.conn.libVer = value;
      }
      return OK;
    }),
    sub('setname', 3, 'CLIENT SETNAME connection-name', { summary: 'Set the current connection name', since: '2.6.9', complexity: 'O(1)' }, (_c, s, args) => {
      const name = args[2] as string;
      if (!validAttr(name) && name !== '') return err(BAD_NAME);
      s.name = name;
      return OK;
    }),
  ],
};
