import type { MaybePromise } from '../backend/types.js';
import { KvError } from '../errors.js';
import { errorReply, type Reply } from '../protocol/reply.js';
import type { ByteString } from '../store/bytes.js';
import { andThen as then } from './maybe.js';
import type { CommandContext, CommandSpec } from './types.js';

/**
 * SETBIT and GETBIT, as Redis 7.0's bitops.c: a string seen as bits, bit 0 the most
 * significant bit of byte 0. SETBIT grows the string with zero bytes as needed and
 * keeps its expiry. An offset is refused past what a value may hold (Redis:
 * proto-max-bulk-len; here --max-value-size, which CONFIG GET reports under that name).
 */

const OFFSET = /^(?:0|[1-9][0-9]{0,18})$/;

/** The bit offset, or the error Redis answers (getBitOffsetFromArgument, without the `#`/`u` forms of BITFIELD). */
function bitOffset(ctx: CommandContext, word: string): number | KvError {
  const bad = new KvError('NOT_INTEGER', 'bit offset is not an integer or out of range');
  if (!OFFSET.test(word)) return bad;
  const n = Number(word);
  return Math.floor(n / 8) >= ctx.limits.maxValueSize ? bad : n;
}

function runSetBit(ctx: CommandContext, args: ByteString[]): MaybePromise<Reply> {
  const offset = bitOffset(ctx, args[2] as string);
  if (offset instanceof KvError) return errorReply(offset);
  const bit = args[3];
  if (bit !== '0' && bit !== '1') return errorReply(new KvError('NOT_INTEGER', 'bit is not an integer or out of range'));
  const byte = Math.floor(offset / 8);
  const mask = 0x80 >> offset % 8;
  return then(
    ctx.backend.update(args[1] as ByteString, (cur) => {
      const old = cur?.value ?? '';
      const had = byte < old.length ? old.charCodeAt(byte) : 0;
      const was = (had & mask) !== 0 ? 1 : 0;
      const now = bit === '1' ? had | mask : had & ~mask;
      // A write even when the bit was already so, as in Redis (a new version: WATCH sees it).
      const head = byte < old.length ? old.slice(0, byte) : old + '\0'.repeat(byte - old.length);
      const value = head + String.fromCharCode(now) + old.slice(byte + 1);
      return { change: { kind: 'put', value, expiresAt: 'keep' }, result: was };
    }),
    ({ result }): Reply => ({ t: 'int', n: result }),
  );
}

function runGetBit(ctx: CommandContext, args: ByteString[]): MaybePromise<Reply> {
  const offset = bitOffset(ctx, args[2] as string);
  if (offset instanceof KvError) return errorReply(offset);
  const byte = Math.floor(offset / 8);
  return then(ctx.backend.get(args[1] as ByteString), (e): Reply => {
    const v = e?.value ?? '';
    return { t: 'int', n: byte < v.length && (v.charCodeAt(byte) & (0x80 >> offset % 8)) !== 0 ? 1 : 0 };
  });
}

export const bitCommands: CommandSpec[] = [
  {
    name: 'setbit',
    arity: 4,
    write: true,
    denyOom: true,
    firstKey: 1,
    lastKey: 1,
    group: 'keyspace',
    usage: 'SETBIT key offset 0|1',
    acl: ['bitmap'],
    docs: { summary: 'Sets or clears the bit at offset in the string value stored at key', since: '2.2.0', group: 'bitmap', complexity: 'O(1)' },
    run: (ctx, _s, args) => runSetBit(ctx, args),
  },
  {
    name: 'getbit',
    arity: 3,
    write: false,
    firstKey: 1,
    lastKey: 1,
    group: 'keyspace',
    usage: 'GETBIT key offset',
    flags: ['fast'],
    acl: ['bitmap'],
    docs: { summary: 'Returns the bit value at offset in the string value stored at key', since: '2.2.0', group: 'bitmap', complexity: 'O(1)' },
    run: (ctx, _s, args) => runGetBit(ctx, args),
  },
];
