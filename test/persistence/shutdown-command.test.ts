import { describe, expect, it } from 'vitest';
import { request } from '../frontends/resp-reader.js';
import { serverFixture } from '../helpers/server.js';
import { connect, processFixture, ready } from './helpers.js';

/** SHUTDOWN (issue 12): a real kv-server stops as on SIGTERM, keeping every write; refused where it cannot apply. */
describe('SHUTDOWN', () => {
  const fx = processFixture();

  it('stops the server cleanly with no reply, as Redis; every write is there after a restart', async () => {
    const server = await fx.spawn(fx.dir, []);
    const r = await ready(connect(server.tcpPort));
    fx.clients.push(r);
    await r.mset('a', '1', 'b', '2');
    // ioredis's shutdown() resolves when the connection closes; a reply would be an error here.
    const closed = new Promise<void>((resolve) => r.once('close', () => resolve()));
    r.call('SHUTDOWN', 'NOSAVE').catch(() => undefined);
    await closed;
    const { code, signal } = await server.exited;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(server.lines.find((l) => l.msg === 'stopping')).toMatchObject({ signal: 'SHUTDOWN' });
    const again = await fx.spawn(fx.dir, []);
    const c = await ready(connect(again.tcpPort));
    fx.clients.push(c);
    expect(await c.mget('a', 'b')).toEqual(['1', '2']);
    await again.kill('SIGTERM');
  });

  it('refuses bad options, and ABORT with no stop under way', async () => {
    const server = await fx.spawn(fx.dir, []);
    const r = await ready(connect(server.tcpPort));
    fx.clients.push(r);
    for (const args of [['NOSAVE', 'SAVE'], ['LATER'], ['ABORT', 'NOW']]) await expect(r.call('SHUTDOWN', ...args)).rejects.toThrow('ERR syntax error');
    await expect(r.call('SHUTDOWN', 'ABORT')).rejects.toThrow('ERR No shutdown in progress.');
    expect(await r.ping()).toBe('PONG');
    await server.kill('SIGTERM');
  });
});

describe('SHUTDOWN where the host stops the server, and inside MULTI', () => {
  const fx = serverFixture();

  it('an embedded server refuses it; inside MULTI it is refused while queueing, as SAVE is, and EXEC aborts', async () => {
    const c = await fx.connect();
    expect((await request(c, 'SHUTDOWN')).value).toEqual({ error: 'ERR SHUTDOWN is not available here: this server runs embedded, and its host stops it' });
    expect((await request(c, 'MULTI')).value).toEqual({ status: 'OK' });
    expect((await request(c, 'SET', 'k', 'v')).value).toEqual({ status: 'QUEUED' });
    expect((await request(c, 'SHUTDOWN')).value).toEqual({ error: 'ERR Command not allowed inside a transaction' });
    expect((await request(c, 'SAVE')).value).toEqual({ error: 'ERR Command not allowed inside a transaction' });
    expect((await request(c, 'EXEC')).value).toEqual({ error: 'EXECABORT Transaction discarded because of previous errors.' });
    expect(fx.srv.server.backend.dbsize()).toBe(0);
  });
});
