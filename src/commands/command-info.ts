import { NIL, type Reply } from '../protocol/reply.js';
import { ACL_CATEGORIES, COMMAND_FLAGS, KEY_SPEC_FLAGS, type AclCategory, type CommandFlag, type CommandSpec, type KeySpecFlag } from './types.js';

/**
 * What COMMAND INFO says about a spec, derived from the fields of the one command table
 * (src/commands/types.ts) the way Redis 7.0 derives its own (server.c
 * setImplicitACLCategories, addReplyCommandInfo): nothing here is written per command.
 */

const bulk = (v: string): Reply => ({ t: 'bulk', v });
const status = (s: string): Reply => ({ t: 'status', s });
const int = (n: number): Reply => ({ t: 'int', n });
const array = (items: Reply[]): Reply => ({ t: 'array', items });
/** Redis 7.0's addReplySetLen: a set in RESP3, an array in RESP2. */
const set = (items: Reply[]): Reply => ({ t: 'array', items, set: true });
/** Redis 7.0's addReplyMapLen: a map in RESP3, a flat array of pairs in RESP2. */
const map = (...entries: Array<readonly [string, Reply]>): Reply => ({ t: 'map', entries: entries.map(([k, v]) => [bulk(k), v] as const) });

/** The spec's flags, in Redis's order: `write` (or `readonly` for a keyspace command that does not write), `denyoom`, then its own. */
export function commandFlags(spec: CommandSpec): CommandFlag[] {
  const have = new Set<CommandFlag>(spec.flags ?? []);
  if (spec.write) have.add('write');
  else if (spec.group === 'keyspace') have.add('readonly');
  if (spec.denyOom) have.add('denyoom');
  return COMMAND_FLAGS.filter((f) => have.has(f));
}

/** The ACL categories: the spec's own plus those Redis derives from its flags (@slow for every command not @fast). */
export function aclCategories(spec: CommandSpec): AclCategory[] {
  const flags = new Set(commandFlags(spec));
  const have = new Set<AclCategory>(spec.acl ?? []);
  if (flags.has('write')) have.add('write');
  if (flags.has('readonly')) have.add('read');
  if (flags.has('admin')) {
    have.add('admin');
    have.add('dangerous');
  }
  if (flags.has('pubsub')) have.add('pubsub');
  if (flags.has('blocking')) have.add('blocking');
  if (flags.has('fast')) have.add('fast');
  else have.add('slow');
  return ACL_CATEGORIES.filter((c) => have.has(c));
}

/** The key arguments' flags: the spec's, else RO+access for a read, RW+update for a write. */
export function keySpecFlags(spec: CommandSpec): KeySpecFlag[] {
  const have = new Set<KeySpecFlag>(spec.keyFlags ?? (spec.write ? ['RW', 'update'] : ['RO', 'access']));
  return KEY_SPEC_FLAGS.filter((f) => have.has(f));
}

/** Redis's key spec for keys at firstKey..lastKey: an index to begin at, a range to find them. */
function keySpecs(spec: CommandSpec): Reply[] {
  if (spec.firstKey === 0) return [];
  if (spec.keySpecs !== undefined) return spec.keySpecs.map((k) => keySpec(KEY_SPEC_FLAGS.filter((f) => k.flags.includes(f)), k.index, k.lastkey, k.step));
  // A range's lastkey counts from the first key (0: the first key alone), or from the end when negative.
  const lastkey = spec.lastKey < 0 ? spec.lastKey : spec.lastKey - spec.firstKey;
  return [keySpec(keySpecFlags(spec), spec.firstKey, lastkey, spec.keyStep ?? 1)];
}

function keySpec(flags: readonly KeySpecFlag[], index: number, lastkey: number, step: number): Reply {
  return map(
    ['flags', set(flags.map(status))],
    ['begin_search', map(['type', bulk('index')], ['spec', map(['index', int(index)])])],
    ['find_keys', map(['type', bulk('range')], ['spec', map(['lastkey', int(lastkey)], ['keystep', int(step)], ['limit', int(0)])])],
  );
}

/** One COMMAND INFO entry: name, arity, flags, first key, last key, step, ACL categories, tips, key specs, subcommands. */
export function commandInfo(spec: CommandSpec | undefined): Reply {
  if (spec === undefined) return NIL;
  return array([
    bulk(spec.name),
    int(spec.arity),
    set(commandFlags(spec).map(status)),
    int(spec.firstKey),
    int(spec.lastKey),
    int(spec.firstKey > 0 ? (spec.keyStep ?? 1) : 0),
    set(aclCategories(spec).map((c) => status(`@${c}`))),
    set((spec.tips ?? []).map(bulk)),
    set(keySpecs(spec)),
    set((spec.subcommands ?? []).map((s) => commandInfo(s))),
  ]);
}

/** The key positions of a full command (COMMAND GETKEYS), by the spec's first and last key. */
export function keyPositions(spec: CommandSpec, argc: number): number[] {
  if (spec.firstKey === 0 || argc <= spec.firstKey) return [];
  const last = spec.lastKey < 0 ? argc + spec.lastKey : Math.min(spec.lastKey, argc - 1);
  const out: number[] = [];
  for (let i = spec.firstKey; i <= last; i += spec.keyStep ?? 1) out.push(i);
  return out;
}
