import { describe, expect, it } from 'vitest';
import { serverFixture, type TestServerOverrides } from '../helpers/server.js';
import { multibulk, readReplies, respReplies } from './resp-reader.js';

describe('TCP RESP2 dialect over a raw socket', () => {
  const fx = serverFixture();

  const connect = (overrides?: TestServerOverrides) => fx.connect(overrides);

  it('answers SET, GET, EXISTS, DEL, PING, ECHO and DBSIZE with the bytes Redis sends', async () => {
    const c = await connect();
    c.write(
      Buffer.concat([
        multibulk('SET', 'k', 'v1'),
        multibulk('GET', 'k'),
        multibulk('EXISTS', 'k', 'nope', 'k'),
        multibulk('DBSIZE'),
        multibulk('DEL', 'k', 'nope'),
        multibulk('GET', 'k'),
        multibulk('PING'),
        multibulk('PING', 'hi'),
        multibulk('ECHO', ''),
      ]),
    );
    const want = '+OK\r\n' + '$2\r\nv1\r\n' + ':2\r\n' + ':1\r\n' + ':1\r\n' + '$-1\r\n' + '+PONG\r\n' + '$2\r\nhi\r\n' + '$0\r\n\r\n';
    expect(await c.until((r) => r.length >= want.length)).toBe(want);
  });

  it("answers an unknown command with Redis 7's wording and stays open", async () => {
    const c = await connect();
    c.write(Buffer.concat([multibulk('FLY', 'away', 'now'), multibulk('HELP'), multibulk('PING')]));
    expect(await respReplies(c, 3)).toEqual([
      { error: "ERR unknown command 'FLY', with args beginning with: 'away' 'now' " },
      { error: "ERR unknown command 'HELP', with args beginning with: " }, // a text-dialect command
      { status: 'PONG' },
    ]);
  });

  it('answers a wrong number of arguments as Redis does', async () => {
    const c = await connect();
    c.write(Buffer.concat([multibulk('GET'), multibulk('SET', 'k')]));
    expect(await respReplies(c, 2)).toEqual([
      { error: "ERR wrong number of arguments for 'get' command" },
      { error: "ERR wrong number of arguments for 'set' command" },
    ]);
  });

  it('reads inline commands after the first multibulk, with Redis quoting', async () => {
    const c = await connect();
    c.write(Buffer.concat([multibulk('PING'), Buffer.from('SET k "a b\\x21"\r\nGET k\r\nEXISTS k\n')]));
    expect(await respReplies(c, 4)).toEqual([{ status: 'PONG' }, { status: 'OK' }, 'a b!', 1]);
  });

  it('answers QUIT with +OK and closes without running what follows', async () => {
    const c = await connect();
    c.write(Buffer.concat([multibulk('QUIT'), multibulk('SET', 'after', '1')]));
    await c.waitClosed();
    expect(c.received).toBe('+OK\r\n');
    expect(fx.srv.server.backend.has('after')).toBe(false);
  });

  describe('a framing error', () => {
    it('answers the commands before it, then the error, then closes', async () => {
      const c = await connect();
      c.write(
        Buffer.concat([
          multibulk('SET', 'a', '1'),
          Buffer.from('*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2XX'), // no CRLF after the value
          multibulk('SET', 'c', '3'),
        ]),
      );
      await c.waitClosed();
      expect(readReplies(c.received).values).toEqual([{ status: 'OK' }, { error: "ERR Protocol error: expected '\\r\\n' after a bulk string" }]);
      expect(fx.srv.server.backend.get('a')?.value).toBe('1');
      expect(fx.srv.server.backend.has('b')).toBe(false);
      expect(fx.srv.server.backend.has('c')).toBe(false);
    });

    it('closes on a bad multibulk length and a bad bulk length', async () => {
      const a = await connect();
      a.write('*x\r\n');
      await a.waitClosed();
      expect(a.received).toBe('-ERR Protocol error: invalid multibulk length\r\n');
      const b = await connect();
      b.write('*1\r\n$-5\r\n');
      await b.waitClosed();
      expect(b.received).toBe('-ERR Protocol error: invalid bulk length\r\n');
    });

    it('closes on unbalanced quotes in an inline command', async () => {
      const c = await connect();
      c.write(Buffer.concat([multibulk('PING'), Buffer.from('SET k "oops\r\n')]));
      await c.waitClosed();
      expect(c.received).toBe('+PONG\r\n-ERR Protocol error: unbalanced quotes in request\r\n');
    });

    it('is logged and counted, and other clients never notice', async () => {
      const other = await connect();
      other.write(multibulk('SET', 'x', '1'));
      await respReplies(other, 1);
      const bad = await connect();
      bad.write('*1\r\n$4\r\nPING\r\r');
      await bad.waitClosed();
      other.write(multibulk('GET', 'x'));
      expect((await respReplies(other, 2))[1]).toBe('1');
      const warn = fx.srv.logs.find('protocol error; closing the connection') ?? [];
      expect(warn).toHaveLength(1);
      expect(warn[0]?.err).toMatchObject({ code: 'PROTOCOL' });
      expect(fx.srv.server.stats.protocolErrors).toBe(1);
    });
  });

  it('answers many pipelined commands in one write, in order', async () => {
    const c = await connect();
    const n = 1000;
    const reqs: Buffer[] = [];
    for (let i = 0; i < n; i++) reqs.push(multibulk('SET', `k${i}`, `v${i}`), multibulk('GET', `k${i}`));
    c.write(Buffer.concat(reqs));
    const replies = await respReplies(c, 2 * n);
    for (let i = 0; i < n; i++) {
      expect(replies[2 * i]).toEqual({ status: 'OK' });
      expect(replies[2 * i + 1]).toBe(`v${i}`);
    }
  });

  it('answers a large pipeline sent across many small packets, in order', async () => {
    const c = await connect();
    c.socket.setNoDelay(true);
    const n = 4000;
    const reqs: Buffer[] = [];
    for (let i = 0; i < n; i++) reqs.push(multibulk('SET', `k${i % 10}`, `value-${i}`), multibulk('GET', `k${i % 10}`));
    const all = Buffer.concat(reqs);
    for (let off = 0; off < all.length; off += 29) c.write(all.subarray(off, off + 29));
    const replies = await respReplies(c, 2 * n);
    expect(replies).toHaveLength(2 * n);
    for (let i = 0; i < n; i++) expect(replies[2 * i + 1]).toBe(`value-${i}`);
  });
});
