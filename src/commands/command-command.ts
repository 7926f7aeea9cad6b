import { KvError } from '../errors.js';
import { errorReply, type Reply } from '../protocol/reply.js';
import type { ByteString } from '../store/bytes.js';
import { commandDocs } from './command-docs.js';
import { aclCategories, commandInfo, keyPositions, keySpecFlags } from './command-info.js';
import type { Dialect } from './dialects.js';
import { compileGlob } from './glob.js';
import type { AclCategory, CommandSpec, Session } from './types.js';
import { ACL_CATEGORIES } from './types.js';
import { subcommand } from './subcommand.js';

/** What COMMAND needs of the table: the commands a dialect offers, and a lookup by full name (`client|list`). */
export interface TableView {
  /** Each top-level spec the dialect offers, once (aliases left out). */
  visible(dialect: Dialect): CommandSpec[];
  byFullName(name: string): CommandSpec | undefined;
}

const bulk = (v: string): Reply => ({ t: 'bulk', v });
const syntaxError = (): Reply => errorReply(new KvError('SYNTAX', 'syntax error'));

/** A container's HELP, as Redis's addReplyHelp writes it. */
export function helpReply(container: string, lines: readonly string[]): Reply {
  return {
    t: 'array',
    items: [`${container} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:`, ...lines, 'HELP', '    Prints this help.'].map(
      (s): Reply => ({ t: 'status', s }),
    ),
  };
}

const COMMAND_HELP = [
  '(no subcommand)',
  '    Return details about all Redis commands.',
  'COUNT',
  '    Return the total number of commands in this Redis server.',
  'LIST',
  '    Return a list of all commands in this Redis server.',
  'INFO [<command-name> ...]',
  '    Return details about multiple Redis commands.',
  '    If no command names are given, documentation details for all',
  '    commands are returned.',
  'DOCS [<command-name> ...]',
  '    Return documentation details about multiple Redis commands.',
  '    If no command names are given, documentation details for all',
  '    commands are returned.',
  'GETKEYS <full-command>',
  '    Return the keys from a full Redis command.',
  'GETKEYSANDFLAGS <full-command>',
  '    Return the keys and the access flags from a full Redis command.',
];

/** The spec `name` names, if the session's dialect offers it. */
function offered(view: TableView, session: Session, name: string): CommandSpec | undefined {
  const spec = view.byFullName(name);
  return spec !== undefined && session.dialect.groups.has(spec.group) ? spec : undefined;
}

/** COMMAND GETKEYS and GETKEYSANDFLAGS: the keys of `args` (a full command), by its spec. */
function getKeys(view: TableView, session: Session, args: ByteString[], withFlags: boolean): Reply {
  const container = offered(view, session, args[0] as string);
  const sub = container?.subcommands && args.length > 1 ? offered(view, session, `${args[0]}|${args[1]}`) : undefined;
  const spec = sub ?? container;
  if (spec === undefined) return errorReply(new KvError('SYNTAX', 'Invalid command specified'));
  if (spec.firstKey === 0) return errorReply(new KvError('SYNTAX', 'The command has no key arguments'));
  if (spec.arity > 0 ? args.length !== spec.arity : args.length < -spec.arity) {
    return errorReply(new KvError('WRONG_ARITY', 'Invalid number of arguments specified for command'));
  }
  const flags: Reply = { t: 'array', items: keySpecFlags(spec).map((s): Reply => ({ t: 'status', s })), set: true };
  return {
    t: 'array',
    items: keyPositions(spec, args.length).map((i) => (withFlags ? { t: 'array', items: [bulk(args[i] as string), flags] } : bulk(args[i] as string))),
  };
}

/** Every spec and subcommand, in table order, as COMMAND LIST walks them. */
function walk(specs: readonly CommandSpec[]): CommandSpec[] {
  return specs.flatMap((s) => [s, ...walk(s.subcommands ?? [])]);
}

function commandList(view: TableView, session: Session, args: ByteString[]): Reply {
  let keep: (spec: CommandSpec) => boolean = () => true;
  for (let i = 2; i < args.length; i += 3) {
    if ((args[i] as string).toLowerCase() !== 'filterby' || args.length - i !== 3) return syntaxError();
    const kind = (args[i + 1] as string).toLowerCase();
    const arg = args[i + 2] as string;
    if (kind === 'pattern') {
      const matches = compileGlob(arg, true);
      keep = (s) => matches(s.name);
    } else if (kind === 'aclcat') {
      const cat = arg.toLowerCase() as AclCategory;
      const known = (ACL_CATEGORIES as readonly string[]).includes(cat);
      keep = (s) => known && aclCategories(s).includes(cat);
    } else if (kind === 'module') {
      keep = () => false; // dualkv loads no modules
    } else {
      return syntaxError();
    }
  }
  return { t: 'array', items: walk(view.visible(session.dialect)).filter(keep).map((s) => bulk(s.name)) };
}

function sub(name: string, arity: number, usage: string, docs: CommandSpec['docs'], run: CommandSpec['run'], tips?: string[]): CommandSpec {
  return subcommand('command', name, { arity, usage, flags: ['loading', 'stale'], acl: ['connection'], docs, tips, run });
}

const O_N_LOOKUP = 'O(N) where N is the number of commands to look up';
const GETKEYS_COMPLEXITY = 'O(N) where N is the number of arguments to the command';

/** COMMAND and its subcommands, as Redis 7.0 answers them, for whatever the table holds. */
export function commandCommand(view: TableView): CommandSpec {
  const all = (session: Session) => view.visible(session.dialect);
  return {
    name: 'command',
    arity: -1,
    write: false,
    firstKey: 0,
    lastKey: 0,
    group: 'redis',
    usage: 'COMMAND [COUNT | LIST | INFO [name ...] | DOCS [name ...] | GETKEYS command [arg ...]]',
    flags: ['loading', 'stale'],
    acl: ['connection'],
    tips: ['nondeterministic_output_order'],
    docs: { summary: 'Get array of Redis command details', since: '2.8.13', group: 'server', complexity: 'O(N) where N is the total number of Redis commands' },
    run: (_c, s) => ({ t: 'array', items: all(s).map((spec) => commandInfo(spec)) }),
    subcommands: [
      sub('count', 2, 'COMMAND COUNT', { summary: 'Get total number of Redis commands', since: '2.8.13', group: 'server', complexity: 'O(1)' }, (_c, s) => ({
        t: 'int',
        n: all(s).length,
      })),
      sub(
        'docs',
        -2,
        'COMMAND DOCS [command-name [command-name ...]]',
        { summary: 'Get array of specific Redis command documentation', since: '7.0.0', group: 'server', complexity: O_N_LOOKUP },
        (_c, s, args) => {
          const specs = args.length === 2 ? all(s) : args.slice(2).flatMap((n) => offered(view, s, n) ?? []);
          return { t: 'map', entries: specs.map((spec) => [bulk(spec.name), commandDocs(spec)] as const) };
        },
        ['nondeterministic_output_order'],
      ),
      sub(
        'getkeys',
        -4,
        'COMMAND GETKEYS command [arg [arg ...]]',
        { summary: 'Extract keys given a full Redis command', since: '2.8.13', group: 'server', complexity: GETKEYS_COMPLEXITY },
        (_c, s, args) => getKeys(view, s, args.slice(2), false),
      ),
      sub(
        'getkeysandflags',
        -4,
        'COMMAND GETKEYSANDFLAGS command [arg [arg ...]]',
        { summary: 'Extract keys and access flags given a full Redis command', since: '7.0.0', group: 'server', complexity: GETKEYS_COMPLEXITY },
        (_c, s, args) => getKeys(view, s, args.slice(2), true),
      ),
      sub('help', 2, 'COMMAND HELP', { summary: 'Show helpful text about the different subcommands', since: '5.0.0', group: 'server', complexity: 'O(1)' }, () =>
        helpReply('COMMAND', COMMAND_HELP),
      ),
      sub(
        'info',
        -2,
        'COMMAND INFO [command-name [command-name ...]]',
        {
          summary: 'Get array of specific Redis command details, or all when no argument is given.',
          since: '2.8.13',
          group: 'server',
          complexity: O_N_LOOKUP,
        },
        (_c, s, args) => ({
          t: 'array',
          items: args.length === 2 ? all(s).map((spec) => commandInfo(spec)) : args.slice(2).map((n) => commandInfo(offered(view, s, n))),
        }),
        ['nondeterministic_output_order'],
      ),
      sub(
        'list',
        -2,
        'COMMAND LIST [FILTERBY MODULE module-name|ACLCAT category|PATTERN pattern]',
        { summary: 'Get an array of Redis command names', since: '7.0.0', group: 'server', complexity: 'O(N) where N is the total number of Redis commands' },
        (_c, s, args) => commandList(view, s, args),
        ['nondeterministic_output_order'],
      ),
    ],
  };
}
