import { describe, expect, it } from 'vitest';
import type { Mutation } from '../../src/backend/types.js';
import { KvError } from '../../src/errors.js';
import { multibulk, request, respReplies, type RespValue } from '../frontends/resp-reader.js';
import { serverFixture } from '../helpers/server.js';
import { RawClient } from '../helpers/socket.js';
import { clockedServer, err, OK } from './clocked-server.js';

/**
 * MULTI/EXEC/DISCARD/WATCH/UNWATCH with Redis 7's semantics (issue 12), over real
 * sockets to an in-process server. Replies and error texts are redis-server 7.0's.
 */

const QUEUED: RespValue = { status: 'QUEUED' };
const EXECABORT = { error: 'EXECABORT Transaction discarded because of previous errors.' };

describe('MULTI and EXEC', () => {
  const t = clockedServer();
  const { call, calls } = t;
  /** Another client of the same server. */
  const other = () => RawClient.connect(t.srv.tcpPort);

  it('queues commands, answering QUEUED, and EXEC runs them in order and answers each reply in an array', async () => {
    expect(await calls(['MULTI'], ['SET', 'a', '1'], ['GET', 'a'], ['MSET', 'b', '2', 'c', '3'], ['MGET', 'a', 'b', 'c'], ['DEL', 'c'])).toEqual([
      OK,
      QUEUED,
      QUEUED,
      QUEUED,
      QUEUED,
      QUEUED,
    ]);
    expect(t.held('a')).toBe(false); // nothing ran before EXEC
    expect(await call('EXEC')).toEqual([OK, '1', OK, ['1', '2', '3'], 1]);
    expect(await calls(['MGET', 'a', 'b', 'c'])).toEqual([['1', '2', null]]);
  });

  it('an empty transaction answers an empty array', async () => {
    expect(await calls(['MULTI'], ['EXEC'])).toEqual([OK, []]);
  });

  it('a command that fails when run fails alone: the others are applied (no rollback, as in Redis)', async () => {
    expect(await calls(['MULTI'], ['SET', 'a', '1'], ['RENAME', 'missing', 'x'], ['SET', 'b', '2'], ['EXEC'])).toEqual([
      OK,
      QUEUED,
      QUEUED,
      QUEUED,
      [OK, err('no such key'), OK],
    ]);
    expect(await call('MGET', 'a', 'b')).toEqual(['1', '2']);
  });

  it('a command refused while queueing (unknown, wrong arity, key too large) makes EXEC refuse the whole transaction', async () => {
    const bigKey = 'k'.repeat(t.srv.server.ctx.limits.maxKeySize + 1);
    expect(
      await calls(['MULTI'], ['SET', 'a', '1'], ['NOSUCHCOMMAND', 'x'], ['GET'], ['GET', bigKey], ['SET', 'b', '2'], ['EXEC']),
    ).toEqual([
      OK,
      QUEUED,
      err("unknown command 'NOSUCHCOMMAND', with args beginning with: 'x' "),
      err("wrong number of arguments for 'get' command"),
      { error: expect.stringMatching(/^ERR key of \d+ bytes is over the limit/) as unknown as string },
      QUEUED,
      EXECABORT,
    ]);
    expect(await call('EXISTS', 'a', 'b')).toBe(0);
    // The connection goes on, outside a transaction.
    expect(await calls(['EXEC'], ['SET', 'a', '1'])).toEqual([err('EXEC without MULTI'), OK]);
  });

  it('answers MULTI, EXEC, DISCARD and WATCH out of turn with Redis\'s errors; a nested MULTI does not spoil the transaction', async () => {
    expect(await calls(['EXEC'], ['DISCARD'], ['MULTI'], ['MULTI'], ['WATCH', 'x'], ['SET', 'a', '1'], ['EXEC'])).toEqual([
      err('EXEC without MULTI'),
      err('DISCARD without MULTI'),
      OK,
      err('MULTI calls can not be nested'),
      err('WATCH inside MULTI is not allowed'),
      QUEUED,
      [OK],
    ]);
    expect(await call('WATCH')).toEqual(err("wrong number of arguments for 'watch' command"));
  });

  it('DISCARD drops the queue and the watches', async () => {
    expect(await calls(['WATCH', 'w'], ['MULTI'], ['SET', 'a', '1'], ['DISCARD'])).toEqual([OK, OK, QUEUED, OK]);
    expect(t.held('a')).toBe(false);
    const o = await other();
    await request(o, 'SET', 'w', 'changed');
    o.close();
    // The watch went with the DISCARD: a new transaction runs.
    expect(await calls(['MULTI'], ['SET', 'a', '2'], ['EXEC'])).toEqual([OK, QUEUED, [OK]]);
  });

  it('RESET inside MULTI drops the transaction and the watches, and the connection\'s name; it answers +RESET', async () => {
    expect(await calls(['CLIENT', 'SETNAME', 'app'], ['WATCH', 'w'], ['MULTI'], ['SET', 'a', '1'], ['RESET'])).toEqual([OK, OK, OK, QUEUED, { status: 'RESET' }]);
    expect(await calls(['EXEC'], ['CLIENT', 'GETNAME'])).toEqual([err('EXEC without MULTI'), null]);
    expect(t.held('a')).toBe(false);
    const o = await other();
    await request(o, 'SET', 'w', 'changed');
    o.close();
    expect(await calls(['MULTI'], ['SET', 'a', '1'], ['EXEC'])).toEqual([OK, QUEUED, [OK]]);
  });

  it('QUIT inside MULTI closes the connection and runs nothing', async () => {
    expect(await calls(['MULTI'], ['SET', 'a', '1'])).toEqual([OK, QUEUED]);
    expect(await call('QUIT')).toEqual(OK);
    await t.client.waitClosed();
    expect(t.held('a')).toBe(false);
  });

  it('the text dialect has transactions too: EXEC answers `EXEC n` and then each reply on its own line', async () => {
    expect(await t.text('MULTI', 'PUT k hello world', 'GET k', 'NOPE')).toEqual(['OK', 'QUEUED', 'QUEUED', expect.stringMatching(/^ERR UNKNOWN_COMMAND /)]);
    expect(await t.text('EXEC')).toEqual([expect.stringMatching(/^ERR EXEC_ABORT Transaction discarded because of previous errors/)]);
    expect(await t.text('MULTI', 'PUT k hello world', 'GET k')).toEqual(['OK', 'QUEUED', 'QUEUED']);
    const lines = await t.text('EXEC', 'PING', 'PING');
    expect(lines).toEqual(['EXEC 2', 'OK', 'VALUE hello world']);
    expect(await t.text('PING')).toEqual(['PONG']);
  });

});

describe('EXEC and the server state', () => {
  const fx = serverFixture();
  const OOM_MESSAGE = "command not allowed when used memory > 'maxmemory'.";

  it('EXEC refuses a transaction that writes while the log refuses writes, naming the error; one that only reads runs', async () => {
    const srv = await fx.start();
    srv.server.backend.setSink({
      writeBlocker: () => new KvError('READ_ONLY', 'writes are refused: the disk is full. Reads still work'),
      record: () => undefined,
      recordAll: () => undefined,
    });
    const c = await fx.connect(srv);
    c.write(Buffer.concat([multibulk('MULTI'), multibulk('SET', 'a', '1'), multibulk('EXEC'), multibulk('MULTI'), multibulk('GET', 'a'), multibulk('EXEC')]));
    expect(await respReplies(c, 6)).toEqual([
      OK,
      QUEUED,
      { error: 'EXECABORT Transaction discarded because of: MISCONF writes are refused: the disk is full. Reads still work' },
      OK,
      QUEUED,
      [null],
    ]);
  });

  it("at --maxmemory EXEC refuses a transaction that would grow the data with Redis's words; one of reads and DEL runs", async () => {
    const MiB = 1024 * 1024;
    const srv = await fx.start({ memory: { policy: 'noeviction', samples: 5, maxmemory: 2 * MiB, maxmemoryClients: 32 * MiB } });
    srv.server.backend.put('filler', 'f'.repeat(3 * MiB));
    const c = await fx.connect(srv);
    c.write(Buffer.concat([multibulk('MULTI'), multibulk('SET', 'a', '1'), multibulk('EXEC'), multibulk('MULTI'), multibulk('EXISTS', 'filler'), multibulk('DEL', 'filler'), multibulk('EXEC')]));
    expect(await respReplies(c, 7)).toEqual([
      OK,
      QUEUED,
      { error: `EXECABORT Transaction discarded because of: OOM ${OOM_MESSAGE}` },
      OK,
      QUEUED,
      QUEUED,
      [1, 1],
    ]);
  });

  it('a queue larger than --max-query-buffer is refused while queueing, and EXEC refuses the transaction', async () => {
    const srv = await fx.start({ limits: { maxQueryBuffer: 4096, maxValueSize: 2048 } });
    const c = await fx.connect(srv);
    const v = 'v'.repeat(1500);
    c.write(Buffer.concat([multibulk('MULTI'), multibulk('SET', 'a', v), multibulk('SET', 'b', v), multibulk('SET', 'c', v), multibulk('EXEC')]));
    const replies = await respReplies(c, 5);
    expect(replies.slice(0, 3)).toEqual([OK, QUEUED, QUEUED]);
    expect(replies[3]).toEqual({ error: expect.stringMatching(/^ERR the transaction would hold \d+ bytes of queued commands, over the limit of 4096/) });
    expect(replies[4]).toEqual(EXECABORT);
    expect(srv.server.backend.dbsize()).toBe(0);
  });

});

describe('WATCH', () => {
  const t = clockedServer();
  const { call, calls } = t;
  /** A second client, on the same server. */
  const second = () => RawClient.connect(t.srv.tcpPort);
  /** EXEC's raw reply: `*-1` when a watched key changed. */
  const execRaw = async () => (await request(t.client, 'EXEC')).raw;

  it('EXEC runs nothing and answers a null array when a watched key was written by another client', async () => {
    await call('SET', 'w', '1');
    expect(await calls(['WATCH', 'w'], ['MULTI'], ['SET', 'a', '1'])).toEqual([OK, OK, QUEUED]);
    const other = await second();
    expect((await request(other, 'SET', 'w', '2')).value).toEqual(OK);
    expect(await execRaw()).toBe('*-1\r\n');
    expect(t.held('a')).toBe(false);
    other.close();
  });

  it('EXEC runs when no watched key changed, and a key absent at WATCH and still absent counts as unchanged', async () => {
    await call('SET', 'w', '1');
    expect(await calls(['WATCH', 'w', 'absent'], ['GET', 'w'], ['MULTI'], ['SET', 'a', '1'], ['EXEC'])).toEqual([OK, '1', OK, QUEUED, [OK]]);
  });

  it('any write counts, even one that stores the same value, or the watching client\'s own before MULTI', async () => {
    await call('SET', 'w', 'same');
    const other = await second();
    await calls(['WATCH', 'w'], ['MULTI'], ['SET', 'a', '1']);
    await request(other, 'SET', 'w', 'same');
    expect(await execRaw()).toBe('*-1\r\n');
    await calls(['WATCH', 'w'], ['EXPIRE', 'w', '100'], ['MULTI'], ['SET', 'a', '1']);
    expect(await execRaw()).toBe('*-1\r\n');
    other.close();
  });

  it('a key deleted and set again since WATCH counts as changed', async () => {
    await call('SET', 'w', 'v');
    const other = await second();
    await calls(['WATCH', 'w'], ['MULTI'], ['SET', 'a', '1']);
    await request(other, 'DEL', 'w');
    await request(other, 'SET', 'w', 'v');
    expect(await execRaw()).toBe('*-1\r\n');
    other.close();
  });

  it('a watched key that expires before EXEC counts as changed (Redis 7: isWatchedKeyExpired)', async () => {
    await call('SET', 'w', 'v', 'PX', '100');
    await calls(['WATCH', 'w'], ['MULTI'], ['SET', 'a', '1']);
    t.clock.advance(101);
    expect(await execRaw()).toBe('*-1\r\n');
  });

  it('a key already expired when watched is absent, and stays so: EXEC runs (Redis: "WATCH stale keys should not fail EXEC")', async () => {
    await call('SET', 'w', 'v', 'PX', '100');
    t.clock.advance(101);
    expect(await calls(['WATCH', 'w'], ['MULTI'], ['SET', 'a', '1'], ['EXEC'])).toEqual([OK, OK, QUEUED, [OK]]);
  });

  it('FLUSHALL counts as a change of every watched key that existed, not of one that did not', async () => {
    await call('SET', 'w', 'v');
    const other = await second();
    await calls(['WATCH', 'w'], ['MULTI'], ['SET', 'a', '1']);
    await request(other, 'FLUSHALL');
    expect(await execRaw()).toBe('*-1\r\n');
    await calls(['WATCH', 'absent'], ['MULTI'], ['SET', 'a', '1']);
    await request(other, 'FLUSHALL');
    expect(await call('EXEC')).toEqual([OK]);
    other.close();
  });

  it('EXEC ends the watches, whether it ran or not; UNWATCH ends them too', async () => {
    await call('SET', 'w', '1');
    const other = await second();
    expect(await calls(['WATCH', 'w'], ['MULTI'], ['EXEC'])).toEqual([OK, OK, []]);
    await request(other, 'SET', 'w', '2');
    expect(await calls(['MULTI'], ['SET', 'a', '1'], ['EXEC'])).toEqual([OK, QUEUED, [OK]]);
    expect(await calls(['WATCH', 'w'], ['UNWATCH'])).toEqual([OK, OK]);
    await request(other, 'SET', 'w', '3');
    expect(await calls(['MULTI'], ['SET', 'a', '2'], ['EXEC'])).toEqual([OK, QUEUED, [OK]]);
    other.close();
  });

  it('UNWATCH inside MULTI is queued, as in Redis, and the watch still decides this EXEC', async () => {
    await call('SET', 'w', '1');
    const other = await second();
    expect(await calls(['WATCH', 'w'], ['MULTI'], ['UNWATCH'])).toEqual([OK, OK, QUEUED]);
    await request(other, 'SET', 'w', '2');
    expect(await execRaw()).toBe('*-1\r\n');
    other.close();
  });
});

describe('EXEC is one unit', () => {
  const fx = serverFixture();

  it('no other client sees part of a transaction', async () => {
    const srv = await fx.start();
    const writer = await fx.connect(srv);
    const reader = await fx.connect(srv);
    const N = 200;
    const out: Buffer[] = [];
    for (let i = 0; i < N; i++) out.push(multibulk('MULTI'), multibulk('SET', 'a', String(i)), multibulk('SET', 'b', String(i)), multibulk('EXEC'));
    writer.write(Buffer.concat(out));
    const seen: RespValue[] = [];
    // Reads interleave with the writer's transactions as the event loop serves both.
    for (let i = 0; i < 50; i++) seen.push((await request(reader, 'MGET', 'a', 'b')).value);
    await respReplies(writer, 4 * N);
    for (const pair of seen) {
      const [a, b] = pair as [string | null, string | null];
      expect(a).toBe(b);
    }
  });

  it('hands the log one BATCH of every change, in order', async () => {
    const srv = await fx.start();
    const recorded: Array<Mutation | Mutation[]> = [];
    srv.server.backend.setSink({ writeBlocker: () => null, record: (m) => void recorded.push(m), recordAll: (ms) => void recorded.push([...ms]) });
    const c = await fx.connect(srv);
    c.write(Buffer.concat([multibulk('SET', 'x', '0'), multibulk('MULTI'), multibulk('SET', 'a', '1'), multibulk('DEL', 'x'), multibulk('EXPIRE', 'a', '100'), multibulk('EXEC')]));
    await respReplies(c, 6);
    expect(recorded).toHaveLength(2);
    expect((recorded[0] as Mutation).kind).toBe('put');
    expect((recorded[1] as Mutation[]).map((m) => m.kind)).toEqual(['put', 'del', 'expire']);
    const versions = (recorded[1] as Mutation[]).map((m) => m.version);
    expect(versions).toEqual([...versions].sort((p, q) => p - q));
  });
});
