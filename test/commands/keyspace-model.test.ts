/**
 * The keyspace command set against a plain reference model (test/helpers/keyspace-model.ts),
 * with time as an input: random command sequences, the clock moved by hand between
 * them, run on the command table directly (many runs, fast) and over a real RESP
 * connection to an in-process server with the active sweep off and on.
 */
import { UNRESTRICTED } from '../../src/commands/access.js';
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { MemoryBackend } from '../../src/backend/memory/memory-backend.js';
import { RESP } from '../../src/commands/dialects.js';
import { executeCommand } from '../../src/commands/execute.js';
import type { CommandContext, Session } from '../../src/commands/types.js';
import { DEFAULT_LIMITS } from '../../src/config.js';
import { ReplyWriter } from '../../src/protocol/reply-writer.js';
import { encodeRespReply } from '../../src/protocol/resp.js';
import { ServerStats } from '../../src/stats.js';
import { readReply, multibulk, type RespValue } from '../frontends/resp-reader.js';
import { KeyspaceModel } from '../helpers/keyspace-model.js';
import { StringsModel } from '../helpers/strings-model.js';
import { ManualClock, serverFixture } from '../helpers/server.js';
import { RawClient } from '../helpers/socket.js';

// --- the system under test, two ways --------------------------------------------------

interface Real {
  send(args: readonly string[]): Promise<RespValue>;
  readonly clock: ManualClock;
  /** One whole round of the active sweep, where the test runs it itself. */
  readonly sweep?: () => void;
}

/** The command table on a MemoryBackend, its replies put through the RESP encoder and read back. */
function commandTable(): Real {
  const clock = new ManualClock();
  const backend = new MemoryBackend({ clock: clock.now });
  const stats = new ServerStats();
  const ctx: CommandContext = {
    backend,
    stats,
    limits: DEFAULT_LIMITS,
    memory: { writeRefusal: () => null },
    reportInternalError: (e) => {
      throw e;
    },
    configParams: () => ({}),
    info: () => stats.snapshot(backend.keyspaceInfo()),
  };
  const session: Session = { transport: 'tcp', dialect: RESP, client: 'model', opLog: null, closing: false, name: '', id: 1, multi: null, watched: null, user: UNRESTRICTED };
  const w = new ReplyWriter();
  return {
    clock,
    async send(args) {
      encodeRespReply(w, await executeCommand(ctx, session, [...args]));
      const bytes = w.take().toString('latin1');
      const r = readReply(bytes, 0);
      if (r === null || r.end !== bytes.length) throw new Error(`not one RESP reply: ${JSON.stringify(bytes)}`);
      return r.value;
    },
    // A budget far above what a round of a few keys takes: one whole round.
    sweep: () => backend.sweep(60_000),
  };
}

/** One connection, the run's commands one after another on it. */
function respConnection(c: RawClient, clock: ManualClock): Real {
  let offset = 0;
  return {
    clock,
    async send(args) {
      c.write(multibulk(...args));
      let reply: ReturnType<typeof readReply> = null;
      await c.until((received) => (reply = readReply(received, offset)) !== null);
      const r = reply as unknown as { value: RespValue; end: number };
      offset = r.end;
      return r.value;
    },
  };
}

// --- commands, with times and versions resolved when they run ----------------------------

const KEYS = ['k1', 'k2', 'k3', 'bin\x00\r\n\xff'];
const VALUES = ['a', 'b', '', 'x y', '\r\n\x00\xff'];

/** An absolute time, in seconds or ms: this many ms from the model's now, or this many units from the key's expiry. */
type TimeWord = { readonly fromNow: number; readonly unit: 's' | 'ms' } | { readonly fromExpiry: number; readonly unit: 's' | 'ms' };
/** A version: the key's current one, one seen before for another write, or a word as it is. */
type VersionWord = { readonly version: 'current' | 'stale'; readonly pick: number };
type Word = string | TimeWord | VersionWord;

function resolve(m: KeyspaceModel, key: string, w: Word): string {
  if (typeof w === 'string') return w;
  if ('fromNow' in w) return String(w.unit === 's' ? Math.floor((m.now + w.fromNow) / 1000) : m.now + w.fromNow);
  if ('fromExpiry' in w) {
    const e = m.expiryOf(key) || m.now + 1000;
    return String(w.unit === 's' ? Math.floor(e / 1000) + w.fromExpiry : e + w.fromExpiry);
  }
  const current = m.knownVersion(key);
  const stale = m.seenVersions().filter((v) => v !== current);
  if (w.version === 'stale' && stale.length > 0) return String(stale[w.pick % stale.length]);
  return String(current ?? 0);
}

function quote(args: readonly string[]): string {
  return args.map((a) => (/^[\x21-\x7e]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
}

async function exchange(m: KeyspaceModel, r: Real, args: readonly string[]): Promise<void> {
  const expected = m.execute(args);
  const actual = await r.send(args);
  const problem = m.match(expected, actual);
  if (problem !== null) throw new Error(`${quote(args)} (clock ${m.now}): ${problem}`);
}

class KeyspaceCommand implements fc.AsyncCommand<KeyspaceModel, Real> {
  private shown: string;
  constructor(private readonly words: readonly Word[]) {
    this.shown = words.map((w) => (typeof w === 'string' ? w : JSON.stringify(w))).join(' ');
  }
  check = (): boolean => true;
  async run(m: KeyspaceModel, r: Real): Promise<void> {
    const key = this.words[1] as string;
    // Comparing with the key's current version needs it read first, when no reply showed it yet.
    if (this.words.some((w) => typeof w === 'object' && 'version' in w) && m.isLive(key) && m.knownVersion(key) === undefined) {
      await exchange(m, r, ['GETVER', key]);
    }
    const args = this.words.map((w) => resolve(m, key, w));
    this.shown = quote(args);
    await exchange(m, r, args);
  }
  toString = (): string => this.shown;
}

/** Moves the clock by `ms`, or to `delta` ms from a key's expiry. */
class AdvanceCommand implements fc.AsyncCommand<KeyspaceModel, Real> {
  private shown: string;
  constructor(private readonly by: { ms: number } | { key: string; delta: number }) {
    this.shown = `advance ${JSON.stringify(by)}`;
  }
  check = (): boolean => true;
  run(m: KeyspaceModel, r: Real): Promise<void> {
    let ms = 'ms' in this.by ? this.by.ms : 1;
    if ('key' in this.by && m.expiryOf(this.by.key) > 0) ms = Math.max(0, m.expiryOf(this.by.key) + this.by.delta - m.now);
    this.shown = `advance the clock ${ms} ms`;
    m.now += ms;
    r.clock.advance(ms);
    return Promise.resolve();
  }
  toString = (): string => this.shown;
}

/** One whole round of the sweep, then DBSIZE: every expired key is reclaimed, and nothing else. */
class SweepCommand implements fc.AsyncCommand<KeyspaceModel, Real> {
  check = (): boolean => true;
  async run(m: KeyspaceModel, r: Real): Promise<void> {
    r.sweep?.();
    m.sweepAll();
    await exchange(m, r, ['DBSIZE']);
  }
  toString = (): string => 'sweep';
}

const key = fc.constantFrom(...KEYS);
const value = fc.constantFrom(...VALUES);
const someKeys = fc.array(key, { minLength: 1, maxLength: 3 });

/** Words a time must be refused for, or that are valid and far in the past. */
const BAD_TIME = ['0', '-1', 'abc', '1.5', '+1', '01', '', '-0', '99999999999999999999', '9223372036854775807', '-9223372036854775808'];
/** A relative TTL (EX/PX, SETEX): mostly small and positive. */
const ttl = (unit: 's' | 'ms'): fc.Arbitrary<string> =>
  fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 1, max: unit === 's' ? 4 : 4000 }).map(String) }, { weight: 1, arbitrary: fc.constantFrom(...BAD_TIME) });
/** An absolute time (EXAT/PXAT): around now, or a bad word. Never a valid time past 2^53 ms, which a double cannot hold. */
const at = (unit: 's' | 'ms'): fc.Arbitrary<Word> =>
  fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: -2000, max: 5000 }).map((fromNow): Word => ({ fromNow, unit })) },
    // At the key's expiry and either side of it, for GT/LT's edges.
    { weight: 4, arbitrary: fc.constantFrom(-1, 0, 1).map((fromExpiry): Word => ({ fromExpiry, unit })) },
    { weight: 1, arbitrary: fc.constantFrom('1', ...BAD_TIME.filter((w) => unit === 's' || w !== '9223372036854775807')) },
  );
/** EXPIRE's time: any integer (not after now deletes). */
const expireTime = (unit: 's' | 'ms', absolute: boolean): fc.Arbitrary<Word> =>
  absolute
    ? at(unit)
    : fc.oneof(
        { weight: 6, arbitrary: fc.integer({ min: unit === 's' ? -2 : -2000, max: unit === 's' ? 5 : 5000 }).map(String) },
        { weight: 1, arbitrary: fc.constantFrom(...BAD_TIME, '-9223372036854775') },
      );

const expiryOption: fc.Arbitrary<readonly Word[]> = fc.oneof(
  fc.tuple(fc.constantFrom('EX', 'ex'), ttl('s')),
  fc.tuple(fc.constantFrom('PX', 'Px'), ttl('ms')),
  fc.tuple(fc.constant('EXAT'), at('s')),
  fc.tuple(fc.constant('PXAT'), at('ms')),
  fc.constant(['KEEPTTL']),
);
const setOption: fc.Arbitrary<readonly Word[]> = fc.oneof(
  { weight: 4, arbitrary: expiryOption },
  { weight: 4, arbitrary: fc.constantFrom(['NX'], ['XX'], ['GET'], ['nx'], ['get']) },
  { weight: 2, arbitrary: fc.tuple(fc.constant('IFEQ'), value) },
  { weight: 1, arbitrary: fc.constantFrom(['FOO'], ['EX'], ['IFEQ']) },
);
const getexOption: fc.Arbitrary<readonly Word[]> = fc.oneof(
  { weight: 4, arbitrary: expiryOption.filter((o) => o[0] !== 'KEEPTTL') },
  { weight: 2, arbitrary: fc.constantFrom(['PERSIST'], ['persist']) },
  { weight: 1, arbitrary: fc.constantFrom(['KEEPTTL'], ['PX']) },
);
const options = (one: fc.Arbitrary<readonly Word[]>, max: number): fc.Arbitrary<Word[]> => fc.array(one, { maxLength: max }).map((o) => o.flat());
const expireFlags = fc.oneof(
  fc.constant([]),
  fc.constantFrom(['NX'], ['XX'], ['GT'], ['LT'], ['lt']),
  fc.array(fc.constantFrom('NX', 'XX', 'GT', 'LT', 'gt', 'FOO'), { minLength: 2, maxLength: 2 }),
);
const version: fc.Arbitrary<Word> = fc.oneof(
  { weight: 6, arbitrary: fc.constant<Word>({ version: 'current', pick: 0 }) },
  { weight: 2, arbitrary: fc.nat().map((pick): Word => ({ version: 'stale', pick })) },
  { weight: 2, arbitrary: fc.constantFrom('0', '18446744073709551615', '9007199254740993', '-1', 'abc', '18446744073709551616', '01', '') },
);

/** An integer for INCRBY and kin, or a value for the counters: small, at the 64-bit edges, or not an integer. */
const counterWord = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: -5, max: 5 }).map(String) },
  { weight: 2, arbitrary: fc.constantFrom('9223372036854775807', '-9223372036854775808', '9223372036854775806', '-9223372036854775807') },
  { weight: 1, arbitrary: fc.constantFrom('01', ' 1', '+1', '-0', '1.5', 'x', '', '9223372036854775808') },
);
const offsetWord = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 8 }).map(String) },
  { weight: 1, arbitrary: fc.constantFrom('-1', 'x', '1048575', '1048576', '9223372036854775807', '9223372036854775808') },
);
const rangeWord = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: -8, max: 8 }).map(String) },
  { weight: 1, arbitrary: fc.constantFrom('9223372036854775807', '-9223372036854775808', 'x', '1.0') },
);

const cmd = (...parts: fc.Arbitrary<Word | readonly Word[]>[]): fc.Arbitrary<fc.AsyncCommand<KeyspaceModel, Real>> =>
  fc.tuple(...parts).map((ws) => new KeyspaceCommand(ws.flat()));
const word = (w: string): fc.Arbitrary<string> => fc.constant(w);

function keyspaceCommands(withSweep: boolean): fc.Arbitrary<Iterable<fc.AsyncCommand<KeyspaceModel, Real>>> {
  const w = (weight: number, arbitrary: fc.Arbitrary<fc.AsyncCommand<KeyspaceModel, Real>>) => ({ weight, arbitrary });
  const expire = fc.constantFrom(['EXPIRE', 's', false], ['PEXPIRE', 'ms', false], ['EXPIREAT', 's', true], ['PEXPIREAT', 'ms', true] as const);
  return fc.commands(
    [
      fc.oneof(
        w(3, cmd(word('GET'), key)),
        // IFEQ twice: Valkey's answer is not documented, so it is not asked.
        w(8, cmd(word('SET'), key, value, options(setOption, 3).filter((o) => o.filter((x) => x === 'IFEQ').length < 2))),
        w(2, cmd(word('PUT'), key, value)),
        w(2, cmd(word('SETEX'), key, ttl('s'), value)),
        w(2, cmd(word('PSETEX'), key, ttl('ms'), value)),
        w(3, cmd(word('GETEX'), key, options(getexOption, 2))),
        w(2, cmd(word('GETDEL'), key)),
        w(2, cmd(word('DEL'), someKeys)),
        w(2, cmd(word('DELIFEQ'), key, value)),
        w(2, cmd(word('EXISTS'), someKeys)),
        w(6, expire.chain(([name, unit, absolute]) => cmd(word(name), key, expireTime(unit, absolute), expireFlags))),
        w(4, cmd(fc.constantFrom('TTL', 'PTTL', 'EXPIRETIME', 'PEXPIRETIME'), key)),
        w(2, cmd(word('PERSIST'), key)),
        w(3, cmd(word('GETVER'), key)),
        w(6, cmd(word('CAS'), key, version, value, options(expiryOption, 2))),
        w(2, cmd(word('CAD'), key, version)),
        w(1, cmd(word('DBSIZE'))),
        w(1, cmd(word('INFO'), word('keyspace'))),
        w(1, fc.constantFrom(['GET'], ['SET', 'k1'], ['SETEX', 'k1', '1'], ['CAS', 'k1', '1'], ['CAD', 'k1']).map((ws) => new KeyspaceCommand(ws))),
        // The string commands (test/helpers/strings-model.ts): edits that keep the expiry, writes that clear it.
        w(3, cmd(fc.constantFrom('INCR', 'DECR'), key)),
        w(3, cmd(fc.constantFrom('INCRBY', 'DECRBY'), key, counterWord)),
        w(2, cmd(word('APPEND'), key, value)),
        w(2, cmd(word('SETRANGE'), key, offsetWord, value)),
        w(2, cmd(fc.constantFrom('GETRANGE', 'SUBSTR'), key, rangeWord, rangeWord)),
        w(1, cmd(fc.constantFrom('STRLEN', 'TYPE'), key)),
        w(2, cmd(fc.constantFrom('SETNX', 'GETSET'), key, counterWord)),
        w(1, cmd(word('TOUCH'), someKeys)),
        w(8, fc.integer({ min: 1, max: 3000 }).map((ms) => new AdvanceCommand({ ms }))),
        w(5, fc.tuple(key, fc.constantFrom(-1, 0, 1)).map(([k, delta]) => new AdvanceCommand({ key: k, delta }))),
        w(withSweep ? 2 : 0, fc.constant(new SweepCommand())),
      ),
    ],
    // Whole sequences from the first run on (fast-check's default size starts them small).
    { maxCommands: 80, size: 'max' },
  );
}

/** Runs one sequence from an empty keyspace, then deletes what it left (a shared server is reused). */
async function runSequence(real: Real, sweepMayRun: boolean, commands: Iterable<fc.AsyncCommand<KeyspaceModel, Real>>): Promise<void> {
  try {
    await fc.asyncModelRun(() => ({ model: new StringsModel(real.clock.ms, sweepMayRun), real }), commands);
  } finally {
    await real.send(['DEL', ...KEYS]);
  }
  const left = await real.send(['DBSIZE']);
  if (left !== 0) throw new Error(`DBSIZE after deleting every key of the run: ${JSON.stringify(left)}`);
}

describe('the keyspace commands against a reference model, time moved by hand', () => {
  it('agree with it on the command table, with the sweep run at chosen moments', async () => {
    await fc.assert(
      fc.asyncProperty(keyspaceCommands(true), (commands) => runSequence(commandTable(), false, commands)),
      { numRuns: 150 },
    );
  });

  describe('over a real RESP connection', () => {
    const fx = serverFixture();

    for (const activeExpiry of [false, true]) {
      it(`agree with it with the active sweep ${activeExpiry ? 'on' : 'off'}`, async () => {
        const clock = new ManualClock();
        const srv = await fx.start({ logOps: false }, { clock: clock.now, activeExpiry });
        await fc.assert(
          fc.asyncProperty(keyspaceCommands(false), async (commands) => {
            const c = await RawClient.connect(srv.tcpPort);
            c.socket.setNoDelay(true);
            try {
              await runSequence(respConnection(c, clock), activeExpiry, commands);
            } finally {
              c.close();
            }
          }),
          { numRuns: 25 },
        );
      });
    }
  });
});
