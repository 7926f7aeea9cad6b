import { KvError } from '../errors.js';
import { errorReply, type Reply } from '../protocol/reply.js';
import { describeKey, type ByteString } from '../store/bytes.js';
import { keyspaceCommands } from './keyspace.js';
import { arityError, serverCommands } from './server-commands.js';
import { stringCommands } from './strings.js';
import type { CommandContext, CommandSpec, Session } from './types.js';

/** Spellings that mean the same command (the project's seeds used both). */
const ALIASES: Record<string, string> = { delete: 'del', bgsave: 'save' };

/** The one command table, shared by every front-end. Keys are lower-case names. */
export const COMMANDS: ReadonlyMap<string, CommandSpec> = buildTable();

function buildTable(): Map<string, CommandSpec> {
  const table = new Map<string, CommandSpec>();
  for (const spec of [...keyspaceCommands, ...stringCommands, ...serverCommands(() => COMMANDS)]) table.set(spec.name, spec);
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

/** Redis 7's wording (which some clients match on); the text dialect's points to HELP. */
function unknownCommand(args: ByteString[]): Reply {
  const name = args[0] as string;
  const rest = args
    .slice(1, 4)
    .map((a) => `'${describeKey(a, 128)}' `)
    .join('');
  return errorReply(
    new KvError('UNKNOWN_COMMAND', `unknown command '${describeKey(name, 128)}', with args beginning with: ${rest}`, {
      textMessage: `unknown command '${describeKey(name, 32)}'; send HELP for the list`,
    }),
  );
}

/** Checks the key arguments against --max-key-size. */
function keyTooLarge(ctx: CommandContext, spec: CommandSpec, args: ByteString[]): Reply | null {
  if (spec.firstKey === 0) return null;
  const last = spec.lastKey < 0 ? args.length - 1 : spec.lastKey;
  for (let i = spec.firstKey; i <= last; i++) {
    const len = (args[i] as ByteString).length;
    if (len > ctx.limits.maxKeySize) {
      return errorReply(
        new KvError('KEY_TOO_LARGE', `key of ${len} bytes is over the limit of ${ctx.limits.maxKeySize} bytes (raise --max-key-size)`),
      );
    }
  }
  return null;
}

/**
 * Runs one command: lookup, dialect, arity and key-size checks, the write check,
 * then the handler. Never throws: every failure becomes an error reply.
 */
export function dispatchCommand(
  ctx: CommandContext,
  session: Session,
  spec: CommandSpec | undefined,
  args: ByteString[],
): Reply | Promise<Reply> {
  if (spec === undefined || !session.dialect.groups.has(spec.group)) return unknownCommand(args);
  if (spec.arity > 0 ? args.length !== spec.arity : args.length < -spec.arity) return arityError(spec.name, spec.usage);
  const tooLarge = keyTooLarge(ctx, spec, args);
  if (tooLarge) return tooLarge;
  if (spec.write) {
    const blocked = ctx.backend.writeBlocker();
    if (blocked) return errorReply(blocked);
  }
  if (spec.denyOom) {
    const oom = ctx.memory.writeRefusal();
    if (oom) return errorReply(oom);
  }
  try {
    return spec.run(ctx, session, args);
  } catch (err) {
    if (err instanceof KvError) return errorReply(err);
    ctx.reportInternalError(err, spec.name);
    return errorReply(new KvError('SERVER', 'internal error; see the server log', { cause: err }));
  }
}
