import { KvError } from '../errors.js';
import { errorReply, rejectReply, type Reply } from '../protocol/reply.js';
import { describeKey, type ByteString } from '../store/bytes.js';
import { keyspaceCommands } from './keyspace.js';
import { multiKeyCommands } from './multikey.js';
import { transactionCommands } from './transactions.js';
import { arityError, serverCommands } from './server-commands.js';
import { runChecked, stateRefusal } from './run.js';
import { accessRefusal } from './access.js';
import { bitCommands } from './bits.js';
import { changesCommand } from './changes-command.js';
import { REDIS_META } from './redis-meta.js';
import { shutdownCommand } from './shutdown-command.js';
import { stringCommands } from './strings.js';
import type { CommandContext, CommandSpec, Session } from './types.js';

/** Spellings that mean the same command (the project's seeds used both). */
const ALIASES: Record<string, string> = { delete: 'del', bgsave: 'save' };

/** The one command table, shared by every front-end. Keys are lower-case names. */
export const COMMANDS: ReadonlyMap<string, CommandSpec> = buildTable();

function buildTable(): Map<string, CommandSpec> {
  const table = new Map<string, CommandSpec>();
  // Redis's own flags, categories, tips and key specs for a command that has none of its own (src/commands/redis-meta.ts).
  const withMeta = (spec: CommandSpec): CommandSpec => {
    const meta = REDIS_META[spec.name];
    return meta === undefined ? spec : { ...spec, flags: spec.flags ?? meta.flags, acl: spec.acl ?? meta.acl, tips: spec.tips ?? meta.tips, keyFlags: spec.keyFlags ?? meta.keyFlags, keySpecs: spec.keySpecs ?? meta.keySpecs };
  };
  for (const spec of [...keyspaceCommands, ...stringCommands, ...bitCommands, ...multiKeyCommands, ...transactionCommands, shutdownCommand, changesCommand, ...serverCommands(() => COMMANDS)]) table.set(spec.name, withMeta(spec));
  for (const [alias, target] of Object.entries(ALIASES)) {
    const spec = table.get(target);
    if (spec) table.set(alias, spec);
  }
  return table;
}

/** Upper-case spellings too, so the usual `GET`/`get` finds its spec without a toLowerCase. */
const FAST_LOOKUP: ReadonlyMap<string, CommandSpec> = new Map(
  [...COMMANDS].flatMap(([name, spec]) => [
    [name, spec],
    [name.toUpperCase(), spec],
  ]),
);

export function lookupCommand(name: string): CommandSpec | undefined {
  return FAST_LOOKUP.get(name) ?? COMMANDS.get(name.toLowerCase());
}

/** Each container's subcommands by their lower-case word (`list` for `client|list`). */
const SUBCOMMANDS = new WeakMap<CommandSpec, ReadonlyMap<string, CommandSpec>>();

function subcommandsOf(container: CommandSpec): ReadonlyMap<string, CommandSpec> {
  let subs = SUBCOMMANDS.get(container);
  if (subs === undefined) {
    subs = new Map((container.subcommands ?? []).map((s) => [s.name.slice(s.name.indexOf('|') + 1), s]));
    SUBCOMMANDS.set(container, subs);
  }
  return subs;
}

/**
 * The spec that runs `args`: for a container command (CLIENT, COMMAND, CONFIG) given a
 * subcommand, the subcommand's own spec when there is one, as Redis looks them up.
 */
export function lookupCommandFor(args: readonly ByteString[]): CommandSpec | undefined {
  const spec = lookupCommand(args[0] as string);
  if (spec?.subcommands === undefined || args.length < 2) return spec;
  return subcommandsOf(spec).get((args[1] as string).toLowerCase()) ?? spec;
}

/** A spec by its full name, as COMMAND INFO and DOCS take it: `get`, or `client|list`. */
export function lookupCommandByFullName(name: string): CommandSpec | undefined {
  const bar = name.indexOf('|');
  if (bar < 0) return lookupCommand(name);
  const container = lookupCommand(name.slice(0, bar));
  return container?.subcommands === undefined ? undefined : subcommandsOf(container).get(name.slice(bar + 1).toLowerCase());
}

/** Redis's arguments to an error: at most 128 bytes of each, with no CR or LF (they would break the reply line). */
function errorArg(s: string, max = 128): string {
  const cut = s.length > max ? s.slice(0, max) : s;
  return cut.replace(/[\r\n]/g, ' ');
}

/**
 * Redis 7's wording (which some clients match on): the arguments, quoted, until they
 * pass 128 bytes in all (server.c processCommand). The text dialect's points to HELP.
 */
function unknownCommand(args: ByteString[]): Reply {
  const name = args[0] as string;
  let rest = '';
  for (let i = 1; i < args.length && rest.length < 128; i++) rest += `'${errorArg(args[i] as string, 128 - rest.length)}' `;
  return rejectReply(
    new KvError('UNKNOWN_COMMAND', `unknown command '${errorArg(name)}', with args beginning with: ${rest}`, {
      textMessage: `unknown command '${describeKey(name, 32)}'; send HELP for the list`,
    }),
  );
}

/** A container command given a subcommand it does not have (Redis's wording). */
function unknownSubcommand(args: ByteString[]): Reply {
  return rejectReply(
    new KvError('SYNTAX', `unknown subcommand '${errorArg(args[1] as string)}'. Try ${(args[0] as string).toUpperCase()} HELP.`),
  );
}

/** Checks the key arguments against --max-key-size. */
function keyRefusal(ctx: CommandContext, session: Session, spec: CommandSpec, args: ByteString[]): Reply | null {
  if (spec.firstKey === 0) return null;
  const last = spec.lastKey < 0 ? args.length - 1 : spec.lastKey;
  const groupOf = ctx.backend.keyGroup ?? null;
  let group = session.multi?.group;
  for (let i = spec.firstKey; i <= last; i += spec.keyStep ?? 1) {
    const key = args[i] as ByteString;
    if (key.length > ctx.limits.maxKeySize) {
      return rejectReply(
        new KvError('KEY_TOO_LARGE', `key of ${key.length} bytes is over the limit of ${ctx.limits.maxKeySize} bytes (raise --max-key-size)`),
      );
    }
    if (groupOf !== null) {
      // Redis Cluster serves a command, or a transaction, only when all its keys share a hash slot.
      const g = groupOf(key);
      if (group !== undefined && g !== group) return rejectReply(new KvError('CROSS_SLOT', "Keys in request don't hash to the same slot"));
      group = g;
    }
  }
  if (session.multi !== null && group !== undefined) session.multi.group = group;
  return null;
}

/**
 * What refuses a command before it runs, whatever the data: an unknown command (or one
 * the dialect does not offer), the wrong number of arguments, a key over the size limit.
 * MULTI queues a command only once it passes these.
 */
export function checkCommand(ctx: CommandContext, session: Session, spec: CommandSpec | undefined, args: ByteString[]): Reply | null {
  if (spec === undefined || !session.dialect.groups.has(spec.group)) {
    // Before AUTH an unknown word is not echoed back: it may be a password typed at the wrong place, and clients log error replies.
    return session.user === null ? rejectReply(new KvError('NO_AUTH', 'Authentication required.')) : unknownCommand(args);
  }
  if (spec.subcommands !== undefined && args.length >= 2) return unknownSubcommand(args);
  if (spec.arity > 0 ? args.length !== spec.arity : args.length < -spec.arity) {
    const refused = arityError(spec.name, spec.textUsage ?? spec.usage, true);
    return spec.abortsTransaction === true ? abortTransaction(session, refused) : refused;
  }
  return accessRefusal(ctx, session, spec) ?? keyRefusal(ctx, session, spec, args);
}

/** Redis (server.c, rejectCommand): EXEC refused before it runs ends the transaction, if any, saying why. */
function abortTransaction(session: Session, refused: Reply): Reply {
  session.multi = null;
  session.watched = null;
  const why = refused.t === 'error' ? refused.err.message : 'it was refused';
  return rejectReply(new KvError('EXEC_ABORT', `Transaction discarded because of: ${why}`));
}

/**
 * Runs one command: lookup, dialect, arity and key-size checks, the write check,
 * then the handler. Never throws: every failure becomes an error reply; one given
 * before the handler ran is marked `rejected`. `spec` is lookupCommandFor's.
 */
export function dispatchCommand(
  ctx: CommandContext,
  session: Session,
  spec: CommandSpec | undefined,
  args: ByteString[],
): Reply | Promise<Reply> {
  const refused = checkCommand(ctx, session, spec, args);
  if (refused) return refused;
  const s = spec as CommandSpec;
  if (s.write || s.denyOom === true) {
    const err = stateRefusal(ctx, s.write, s.denyOom === true);
    if (err) return rejectReply(err);
  }
  return runChecked(ctx, session, s, args);
}
