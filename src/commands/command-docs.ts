import type { Reply } from '../protocol/reply.js';
import { VERSION } from '../stats.js';
import type { CommandDocs, CommandGroup, CommandSpec } from './types.js';

/**
 * COMMAND DOCS, derived from the command table: the arguments come from each spec's
 * one-line usage (`SET key value [NX|XX] [EX s|PX ms]`), so that a command gets its docs
 * by being in the table. The reply has Redis 7.0's shape (server.c addReplyCommandDocs),
 * which redis-cli reads, with asserts, for its help and its hints.
 */

/** One argument as COMMAND DOCS describes it. */
export interface DocArg {
  readonly name: string;
  readonly type: 'key' | 'string' | 'integer' | 'unix-time' | 'pattern' | 'pure-token' | 'oneof' | 'block';
  readonly token?: string;
  optional?: boolean;
  multiple?: boolean;
  readonly arguments?: readonly DocArg[];
}

/** The Redis doc group a command gets when its spec names none. */
const DOC_GROUP: Record<CommandGroup, string> = {
  keyspace: 'generic',
  server: 'server',
  info: 'server',
  connection: 'connection',
  help: 'server',
  transaction: 'transactions',
  redis: 'server',
};

/** Argument words that take an integer. */
const INTEGER_WORDS = new Set(['s', 'ms', 'seconds', 'milliseconds', 'count', 'version', 'id', 'integer', 'n', 'timeout', 'db', 'index', 'protover']);
const UNIX_TIME_WORDS = new Set(['t', 'unix-time', 'unix-time-seconds', 'unix-time-milliseconds']);

function typeOf(word: string): DocArg['type'] {
  if (word === 'key') return 'key';
  if (INTEGER_WORDS.has(word)) return 'integer';
  if (UNIX_TIME_WORDS.has(word)) return 'unix-time';
  if (word === 'pattern') return 'pattern';
  return 'string';
}

const isToken = (w: string) => /^[A-Z][A-Z0-9_-]*$/.test(w);
const isPunct = (w: string | undefined) => w === '[' || w === ']' || w === '|' || w === '...';

/** Splits a usage into words and the punctuation `[ ] | ...`. */
function tokenize(usage: string): string[] {
  return usage
    .replace(/\.\.\./g, ' ... ')
    .replace(/([[\]|])/g, ' $1 ')
    .split(/\s+/)
    .filter((w) => w !== '');
}

/**
 * The arguments of a usage, after the command's own words (`CLIENT LIST` for
 * `client|list`). Uppercase words are tokens: alone a pure token, before a lowercase word
 * that word's token (`EX s`). `[a|b]` is an optional one-of; `key [key ...]` a key that
 * may repeat.
 */
export function parseUsage(usage: string, nameWords: number): DocArg[] {
  const words = tokenize(usage).slice(nameWords);
  let at = 0;

  const sequence = (): DocArg[] => {
    const out: DocArg[] = [];
    while (at < words.length && words[at] !== ']' && words[at] !== '|') {
      const w = words[at] as string;
      if (w === '...') {
        at++;
        const last = out[out.length - 1];
        if (last) last.multiple = true;
        continue;
      }
      if (w === '[') {
        at++;
        const alternatives = [sequence()];
        while (words[at] === '|') {
          at++;
          alternatives.push(sequence());
        }
        if (words[at] === ']') at++;
        const group = asGroup(alternatives);
        if (group === null) continue;
        // `key [key ...]`: the optional repeat of the argument before it.
        const prev = out[out.length - 1];
        if (group.multiple && prev !== undefined && prev.name === group.name && prev.type === group.type) {
          prev.multiple = true;
          continue;
        }
        group.optional = true;
        out.push(group);
        continue;
      }
      at++;
      const next = words[at];
      if (isToken(w) && next !== undefined && !isPunct(next) && !isToken(next)) {
        at++;
        out.push({ name: next, type: typeOf(next), token: w });
      } else if (isToken(w)) {
        out.push({ name: w.toLowerCase(), type: 'pure-token', token: w });
      } else {
        out.push({ name: w, type: typeOf(w) });
      }
    }
    return out;
  };

  const asGroup = (alternatives: DocArg[][]): DocArg | null => {
    const members = alternatives.map((alt): DocArg | null => {
      if (alt.length === 0) return null;
      if (alt.length === 1) return alt[0] as DocArg;
      return { name: alt.map((a) => a.name).join('-'), type: 'block', arguments: alt };
    });
    const present = members.filter((m): m is DocArg => m !== null);
    if (present.length === 0) return null;
    if (present.length === 1) return present[0] as DocArg;
    return { name: present.map((m) => m.name).join('-'), type: 'oneof', arguments: present };
  };

  const out: DocArg[] = [];
  while (at < words.length) {
    out.push(...sequence());
    at++; // a stray `]` or `|`
  }
  return out;
}

const bulk = (v: string): Reply => ({ t: 'bulk', v });

type Entry = readonly [Reply, Reply];
const entry = (name: string, value: Reply): Entry => [bulk(name), value];

/** One argument: a map (a flat array in RESP2) whose flags are a set, as Redis 7.0's addReplyCommandArgList. */
function argReply(a: DocArg): Reply {
  const entries: Entry[] = [entry('name', bulk(a.name)), entry('type', bulk(a.type))];
  if (a.type === 'key') entries.push(entry('key_spec_index', { t: 'int', n: 0 }));
  if (a.token !== undefined) entries.push(entry('token', bulk(a.token)));
  const flags: Reply[] = [];
  if (a.optional) flags.push({ t: 'status', s: 'optional' });
  if (a.multiple) flags.push({ t: 'status', s: 'multiple' });
  if (flags.length > 0) entries.push(entry('flags', { t: 'array', items: flags, set: true }));
  if (a.arguments !== undefined) entries.push(entry('arguments', { t: 'array', items: a.arguments.map(argReply) }));
  return { t: 'map', entries };
}

/** A spec's docs: its own, else its usage as the summary, dualkv's version, and the group's doc group. */
export function docsOf(spec: CommandSpec): CommandDocs {
  return spec.docs ?? { summary: spec.usage, since: VERSION, group: DOC_GROUP[spec.group] };
}

/** One COMMAND DOCS entry (the map after the command's name; a flat array of pairs in RESP2), as Redis 7.0's addReplyCommandDocs. */
export function commandDocs(spec: CommandSpec): Reply {
  const docs = docsOf(spec);
  const entries: Entry[] = [entry('summary', bulk(docs.summary)), entry('since', bulk(docs.since)), entry('group', bulk(docs.group))];
  if (docs.complexity !== undefined) entries.push(entry('complexity', bulk(docs.complexity)));
  if (spec.subcommands === undefined) {
    const args = parseUsage(spec.usage, spec.name.split('|').length);
    if (args.length > 0) entries.push(entry('arguments', { t: 'array', items: args.map(argReply) }));
  } else {
    entries.push(entry('subcommands', { t: 'map', entries: spec.subcommands.map((s) => entry(s.name, commandDocs(s))) }));
  }
  return { t: 'map', entries };
}
