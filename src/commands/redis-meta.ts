import type { AclCategory, CommandFlag, KeySpecFlag } from './types.js';

/**
 * What Redis 7.0's own command table says of the commands dualkv has beyond what
 * dualkv's specs imply (src/commands/command-info.ts derives the rest): flags such as
 * `fast`, ACL categories, command tips, and the key specs of commands whose keys do not
 * all play the same part (RENAME: one read and deleted, one written). Taken from
 * redis-server 7.0.15's COMMAND INFO; test/commands/command-command.test.ts compares
 * the two. The table build (src/commands/table.ts) adds these to the specs, so that
 * behaviour (MONITOR's admin rule, MULTI's no-multi refusal) reads the same flags.
 */
export interface RedisMeta {
  readonly flags?: readonly CommandFlag[];
  readonly acl?: readonly AclCategory[];
  readonly tips?: readonly string[];
  readonly keyFlags?: readonly KeySpecFlag[];
  readonly keySpecs?: ReadonlyArray<{ readonly flags: readonly KeySpecFlag[]; readonly index: number; readonly lastkey: number; readonly step: number }>;
}

const FAST: readonly CommandFlag[] = ['fast'];
const TX: readonly CommandFlag[] = ['noscript', 'loading', 'stale', 'fast', 'allow_busy'];
const MULTI_SHARD = 'request_policy:multi_shard';
const ALL_SHARDS = 'request_policy:all_shards';

export const REDIS_META: Readonly<Record<string, RedisMeta>> = {
  mget: { flags: FAST, acl: ['string'], tips: [MULTI_SHARD], keyFlags: ['RO', 'access'] },
  mset: { acl: ['string'], tips: [MULTI_SHARD, 'response_policy:all_succeeded'], keyFlags: ['OW', 'update'] },
  msetnx: { acl: ['string'], tips: [MULTI_SHARD, 'response_policy:agg_min'], keyFlags: ['OW', 'insert'] },
  rename: {
    acl: ['keyspace'],
    keySpecs: [
      { flags: ['RW', 'access', 'delete'], index: 1, lastkey: 0, step: 1 },
      { flags: ['OW', 'update'], index: 2, lastkey: 0, step: 1 },
    ],
  },
  renamenx: {
    flags: FAST,
    acl: ['keyspace'],
    keySpecs: [
      { flags: ['RW', 'access', 'delete'], index: 1, lastkey: 0, step: 1 },
      { flags: ['OW', 'insert'], index: 2, lastkey: 0, step: 1 },
    ],
  },
  copy: {
    acl: ['keyspace'],
    keySpecs: [
      { flags: ['RO', 'access'], index: 1, lastkey: 0, step: 1 },
      { flags: ['OW', 'update'], index: 2, lastkey: 0, step: 1 },
    ],
  },
  unlink: { flags: FAST, acl: ['keyspace'], tips: [MULTI_SHARD, 'response_policy:agg_sum'], keyFlags: ['RM', 'delete'] },
  randomkey: { acl: ['keyspace'], tips: [ALL_SHARDS, 'nondeterministic_output'] },
  flushdb: { acl: ['keyspace', 'dangerous'], tips: [ALL_SHARDS, 'response_policy:all_succeeded'] },
  flushall: { acl: ['keyspace', 'dangerous'], tips: [ALL_SHARDS, 'response_policy:all_succeeded'] },
  scan: { acl: ['keyspace'], tips: ['nondeterministic_output', 'request_policy:special'] },
  keys: { acl: ['keyspace', 'dangerous'], tips: [ALL_SHARDS, 'nondeterministic_output_order'] },
  time: { flags: ['loading', 'stale', 'fast'], tips: ['nondeterministic_output'] },
  multi: { flags: TX, acl: ['transaction'] },
  exec: { flags: ['noscript', 'loading', 'stale', 'skip_slowlog'], acl: ['transaction'] },
  discard: { flags: TX, acl: ['transaction'] },
  watch: { flags: TX, acl: ['transaction'], keyFlags: ['RO'] },
  unwatch: { flags: TX, acl: ['transaction'] },
  reset: { flags: ['noscript', 'loading', 'stale', 'fast', 'no_auth', 'allow_busy'], acl: ['connection'] },
  incr: { flags: FAST, acl: ['string'], keyFlags: ['RW', 'access', 'update'] },
  decr: { flags: FAST, acl: ['string'], keyFlags: ['RW', 'access', 'update'] },
  incrby: { flags: FAST, acl: ['string'], keyFlags: ['RW', 'access', 'update'] },
  decrby: { flags: FAST, acl: ['string'], keyFlags: ['RW', 'access', 'update'] },
  incrbyfloat: { flags: FAST, acl: ['string'], keyFlags: ['RW', 'access', 'update'] },
  append: { flags: FAST, acl: ['string'], keyFlags: ['RW', 'insert'] },
  strlen: { flags: FAST, acl: ['string'], keyFlags: ['RO'] },
  getrange: { acl: ['string'], keyFlags: ['RO', 'access'] },
  substr: { acl: ['string'], keyFlags: ['RO', 'access'] },
  setrange: { acl: ['string'], keyFlags: ['RW', 'update'] },
  setnx: { flags: FAST, acl: ['string'], keyFlags: ['OW', 'insert'] },
  getset: { flags: FAST, acl: ['string'], keyFlags: ['RW', 'access', 'update'] },
  type: { flags: FAST, acl: ['keyspace'], keyFlags: ['RO'] },
  touch: { flags: FAST, acl: ['keyspace'], tips: [MULTI_SHARD, 'response_policy:agg_sum'], keyFlags: ['RO'] },
  lcs: { acl: ['string'], keySpecs: [{ flags: ['RO', 'access'], index: 1, lastkey: 1, step: 1 }] },
  setbit: { keyFlags: ['RW', 'access', 'update'] },
  getbit: { keyFlags: ['RO', 'access'] },
};
