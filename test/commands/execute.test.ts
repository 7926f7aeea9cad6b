import { UNRESTRICTED } from '../../src/commands/access.js';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { executeCommand } from '../../src/commands/execute.js';
import { RESP, TEXT, UDP, type Dialect } from '../../src/commands/dialects.js';
import type { CommandContext, Session } from '../../src/commands/types.js';
import { DEFAULT_LIMITS } from '../../src/config.js';
import { createOpLog } from '../../src/op-log.js';
import { KvError } from '../../src/errors.js';
import type { Reply } from '../../src/protocol/reply.js';
import { ServerStats } from '../../src/stats.js';
import { MemoryBackend } from '../../src/backend/memory/memory-backend.js';
import { LogCapture } from '../helpers/server.js';

/** The command table with no server around it: a store, counters, and one session. */
function setup(dialectName: 'text' | 'resp' | 'udp' = 'resp', limits: Partial<CommandContext['limits']> = {}, store = new MemoryBackend()) {
  const dialect: Dialect = { text: TEXT, resp: RESP, udp: UDP }[dialectName];
  const stats = new ServerStats();
  const internalErrors: Array<{ err: unknown; command: string }> = [];
  let oom: KvError | null = null;
  const ctx: CommandContext = {
    backend: store,
    stats,
    limits: { ...DEFAULT_LIMITS, ...limits },
    memory: { writeRefusal: () => oom },
    reportInternalError: (err, command) => internalErrors.push({ err, command }),
    configParams: () => ({ port: '7379', maxclients: '10000' }),
    info: () => stats.snapshot(store.keyspaceInfo()),
  };
  const logs = new LogCapture();
  const session: Session = {
    transport: 'tcp',
    dialect,
    client: '127.0.0.1:1',
    opLog: createOpLog(pino({ level: 'info' }, logs)),
    closing: false,
    multi: null,
    watched: null,
    user: UNRESTRICTED,
    name: '',
    id: 1,
  };
  const run = (...args: string[]) => executeCommand(ctx, session, args) as Reply;
  const setOom = (err: KvError | null) => (oom = err);
  return { store, stats, ctx, session, logs, run, internalErrors, setOom };
}

function code(r: Reply): string | undefined {
  return r.t === 'error' ? r.err.code : undefined;
}

describe('the command table', () => {
  it('reads command names in any case, and knows DELETE as DEL', () => {
    const { run } = setup();
    expect(run('set', 'k', 'v')).toEqual({ t: 'ok' });
    expect(run('GeT', 'k')).toEqual({ t: 'bulk', v: 'v' });
    expect(run('DELETE', 'k')).toEqual({ t: 'deleted', n: 1, of: 1 });
  });

  it('answers a command of another dialect as unknown', () => {
    expect(code(setup('text').run('INFO'))).toBe('UNKNOWN_COMMAND');
    expect(code(setup('text').run('CONFIG', 'GET', 'port'))).toBe('UNKNOWN_COMMAND');
    expect(code(setup('resp').run('HELP'))).toBe('UNKNOWN_COMMAND');
    expect(code(setup('udp').run('QUIT'))).toBe('UNKNOWN_COMMAND');
  });

  it('checks arity, showing the usage in the text dialect only', () => {
    // One error, with the wording each dialect shows: the codec picks.
    const text = setup('text').run('GET', 'a', 'b');
    expect(text).toMatchObject({
      t: 'error',
      err: { code: 'WRONG_ARITY', message: "wrong number of arguments for 'get' command", textMessage: "wrong number of arguments for 'get' command; usage: GET key" },
    });
    const resp = setup('resp').run('DEL');
    expect(resp).toMatchObject({ t: 'error', err: { code: 'WRONG_ARITY', message: "wrong number of arguments for 'del' command" } });
  });

  it('checks the size of every key of a multi-key command before running it', () => {
    const { run, store } = setup('resp', { maxKeySize: 4 });
    store.put('a', '1');
    expect(code(run('DEL', 'a', 'toolong'))).toBe('KEY_TOO_LARGE');
    expect(store.has('a')).toBe(true);
    expect(code(run('EXISTS', 'toolong'))).toBe('KEY_TOO_LARGE');
    expect(run('EXISTS', 'a', 'a')).toMatchObject({ t: 'int', n: 2 });
  });

  it('checks the value size in SET and PUT', () => {
    const { run, store } = setup('resp', { maxValueSize: 3 });
    expect(code(run('SET', 'k', 'four'))).toBe('VALUE_TOO_LARGE');
    expect(code(run('PUT', 'k', 'four'))).toBe('VALUE_TOO_LARGE');
    expect(run('PUT', 'k', 'thr')).toEqual({ t: 'ok' });
    expect(store.get('k')?.value).toBe('thr');
  });

  it("refuses writes with the store's write blocker while reads go on", () => {
    const { run, store } = setup();
    store.put('k', 'v');
    store.setSink({ writeBlocker: () => new KvError('READ_ONLY', 'writes are refused: disk full. Reads still work'), record: () => undefined, recordAll: () => undefined });
    expect(code(run('SET', 'k', 'w'))).toBe('READ_ONLY');
    expect(code(run('DEL', 'k'))).toBe('READ_ONLY');
    expect(run('GET', 'k')).toEqual({ t: 'bulk', v: 'v' });
  });

  it('answers a write only once the sink says it is durable, and a failed write as an error', async () => {
    const { ctx, session, store } = setup();
    let release = () => {};
    store.setSink({ writeBlocker: () => null, record: () => new Promise<void>((resolve) => (release = resolve)), recordAll: () => undefined });
    const pending = executeCommand(ctx, session, ['SET', 'k', 'v']);
    expect(pending).toBeInstanceOf(Promise);
    let settled = false;
    void (pending as Promise<Reply>).then(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(false);
    release();
    expect(await pending).toEqual({ t: 'ok' });

    store.setSink({ writeBlocker: () => null, record: () => Promise.reject(new Error('EIO')), recordAll: () => Promise.reject(new Error('EIO')) });
    const failed = await executeCommand(ctx, session, ['PUT', 'k', 'w']);
    expect(code(failed)).toBe('SERVER');
  });

  it('refuses SET and PUT at the memory limit, and lets GET, DEL and EXISTS through', () => {
    const { run, store, setOom } = setup();
    store.put('k', 'v');
    setOom(new KvError('OOM', "command not allowed when used memory > 'maxmemory'."));
    expect(run('SET', 'k', 'w')).toMatchObject({ t: 'error', err: { code: 'OOM' } });
    expect(run('PUT', 'j', 'w')).toMatchObject({ t: 'error', err: { code: 'OOM' } });
    expect(run('GET', 'k')).toEqual({ t: 'bulk', v: 'v' });
    expect(run('EXISTS', 'k')).toMatchObject({ t: 'int', n: 1 });
    expect(run('DEL', 'k')).toEqual({ t: 'deleted', n: 1, of: 1 });
  });

  it('reports an unexpected failure (a bug, such as a V8 Map refusing one more key) with its cause, and answers an error', () => {
    class FullStore extends MemoryBackend {
      override put(): never {
        throw new RangeError('Map maximum size exceeded');
      }
    }
    const { run, internalErrors } = setup('resp', {}, new FullStore());
    expect(run('SET', 'k', 'v')).toMatchObject({ t: 'error', err: { code: 'SERVER', message: 'internal error; see the server log' } });
    expect(internalErrors).toHaveLength(1);
    expect(internalErrors[0]?.command).toBe('set');
    expect((internalErrors[0]?.err as Error).message).toBe('Map maximum size exceeded');
  });

  it('answers SAVE (and BGSAVE) without persistence as NOT_SUPPORTED', () => {
    const { run } = setup();
    expect(code(run('SAVE'))).toBe('NOT_SUPPORTED');
    expect(code(run('BGSAVE'))).toBe('NOT_SUPPORTED');
  });

  it('counts every command for INFO as Redis 7 does: calls, failed calls, and calls refused before they ran', () => {
    const { run, stats, store } = setup();
    run('SET', 'k', 'v');
    run('GET', 'k');
    run('GET');
    run('PING', 'a', 'b');
    run('NOPE');
    const info = stats.snapshot(store.keyspaceInfo());
    expect(info.commandstats).toEqual({
      cmdstat_set: expect.stringMatching(/^calls=1,usec=\d+,usec_per_call=[\d.]+,rejected_calls=0,failed_calls=0$/),
      cmdstat_get: expect.stringMatching(/^calls=1,.*,rejected_calls=1,failed_calls=0$/),
      // PING's own arity check answers an error: it ran and failed.
      cmdstat_ping: expect.stringMatching(/^calls=1,.*,rejected_calls=0,failed_calls=1$/),
    });
    // An unknown command has no counters of its own (as in Redis); errorstats counts its error.
    expect(info.errorstats).toEqual({ errorstat_ERR: 'count=3' });
    expect(info.stats?.total_commands_processed).toBe(3);
    expect(info.stats?.total_error_replies).toBe(3);
  });

  it('writes one op line per command with the key and value size, never the value', () => {
    const { run, logs } = setup();
    run('SET', 'k', 'secret');
    run('GET', 'k');
    run('GET', 'missing');
    const ops = logs.find('op');
    expect(ops.map((l) => [l.cmd, l.key, l.vsize, l.outcome])).toEqual([
      ['SET', 'k', 6, 'ok'],
      ['GET', 'k', 6, 'ok'],
      ['GET', 'missing', undefined, 'not_found'],
    ]);
    expect(JSON.stringify(ops)).not.toContain('secret');
  });

  it('answers CONFIG GET by glob, and COMMAND INFO for known and unknown names', () => {
    const { run } = setup();
    // A map: a flat array of names and values in RESP2, `%` in RESP3.
    expect(run('CONFIG', 'GET', 'max*')).toEqual({ t: 'map', entries: [[{ t: 'bulk', v: 'maxclients' }, { t: 'bulk', v: '10000' }]] });
    expect(run('COMMAND', 'INFO', 'nosuch')).toEqual({ t: 'array', items: [{ t: 'nil' }] });
    expect(code(run('CONFIG', 'SET', 'port', '1'))).toBe('NOT_SUPPORTED');
  });
});
