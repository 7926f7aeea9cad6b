import { describe, expect, it } from 'vitest';
import { serverFixture, type TestServer, type TestServerOverrides } from '../helpers/server.js';
import { RawClient } from '../helpers/socket.js';
import { multibulk, readReplies, respReplies } from './resp-reader.js';

describe('TCP limits', () => {
  const fx = serverFixture();

  const start = (limits: TestServerOverrides['limits']) => fx.start({ limits });

  const connect = () => fx.connect();

  describe('key size (--max-key-size)', () => {
    it('refuses a key over the limit in the text dialect with KEY_TOO_LARGE, and stays open', async () => {
      const s = await start({ maxKeySize: 8 });
      const c = await connect();
      const [put, get, ok, atLimit] = await c.text('PUT 123456789 v', 'GET 123456789', 'PUT 12345678 v', 'GET 12345678');
      expect(put).toBe('ERR KEY_TOO_LARGE key of 9 bytes is over the limit of 8 bytes (raise --max-key-size)');
      expect(get).toMatch(/^ERR KEY_TOO_LARGE /);
      expect(ok).toBe('OK');
      expect(atLimit).toBe('VALUE v');
      expect(s.server.backend.size).toBe(1);
    });

    it('refuses a key over the limit over RESP, for every key of a multi-key command', async () => {
      const s = await start({ maxKeySize: 8 });
      const c = await connect();
      c.write(Buffer.concat([multibulk('SET', '123456789', 'v'), multibulk('DEL', 'a', '123456789'), multibulk('PING')]));
      expect(await respReplies(c, 3)).toEqual([
        { error: 'ERR key of 9 bytes is over the limit of 8 bytes (raise --max-key-size)' },
        { error: 'ERR key of 9 bytes is over the limit of 8 bytes (raise --max-key-size)' },
        { status: 'PONG' },
      ]);
      expect(s.server.backend.size).toBe(0);
    });
  });

  describe('value size (--max-value-size)', () => {
    it('refuses a value over the limit in the text dialect with VALUE_TOO_LARGE', async () => {
      const s = await start({ maxValueSize: 16 });
      const c = await connect();
      const [over, at, quoted] = await c.text(`PUT k ${'x'.repeat(17)}`, `PUT k ${'x'.repeat(16)}`, `PUT q "${'\\x00'.repeat(17)}"`);
      expect(over).toBe('ERR VALUE_TOO_LARGE value of 17 bytes is over the limit of 16 bytes (raise --max-value-size)');
      expect(at).toBe('OK');
      expect(quoted).toMatch(/^ERR VALUE_TOO_LARGE value of 17 bytes/); // the decoded size counts, not the escapes
      expect(s.server.backend.get('k')?.value).toBe('x'.repeat(16));
      expect(s.server.backend.has('q')).toBe(false);
    });

    it('skips an oversize RESP bulk by its length: the request is refused, the connection stays in sync and open', async () => {
      const s = await start({ maxValueSize: 1024 });
      const c = await connect();
      // The big value holds bytes that would be commands if the decoder lost its place.
      const sneaky = multibulk('SET', 'evil', '1').toString('latin1');
      const big = sneaky.repeat(Math.ceil(2000 / sneaky.length));
      c.write(Buffer.concat([multibulk('SET', 'k', big), multibulk('GET', 'k'), multibulk('SET', 'k', 'small'), multibulk('GET', 'k')]));
      expect(await respReplies(c, 4)).toEqual([
        { error: `ERR argument of ${big.length} bytes is over the limit of 1024 bytes (raise --max-value-size)` },
        null,
        { status: 'OK' },
        'small',
      ]);
      expect(s.server.backend.has('evil')).toBe(false);
      expect(c.closed).toBe(false);
      const warn = s.logs.find('request rejected');
      expect(warn[0]?.err).toMatchObject({ code: 'VALUE_TOO_LARGE' });
    });
  });

  describe('line length (--max-line-size)', () => {
    it('refuses a text line over the limit with LINE_TOO_LONG and reads the next line normally', async () => {
      const s = await start({ maxLineSize: 64 });
      const c = await connect();
      const [long, after, atLimit] = await c.text(`PUT k ${'x'.repeat(100)}`, 'PUT k short', `PUT j ${'y'.repeat(58)}`);
      expect(long).toBe('ERR LINE_TOO_LONG line is over the limit of 64 bytes (raise --max-line-size, or send large values over RESP)');
      expect(after).toBe('OK');
      expect(atLimit).toBe('OK'); // exactly 64 bytes
      expect(s.server.backend.get('k')?.value).toBe('short');
    });

    it('refuses a text line over the limit sent in pieces, once', async () => {
      await start({ maxLineSize: 64 });
      const c = await connect();
      for (let i = 0; i < 10; i++) c.write('z'.repeat(50));
      c.write('\nPING\n');
      expect(await c.lines(2)).toEqual([expect.stringMatching(/^ERR LINE_TOO_LONG /), 'PONG']);
    });

    it('answers a RESP inline line over the limit with a protocol error, then closes', async () => {
      await start({ maxLineSize: 64 });
      const c = await connect();
      c.write(Buffer.concat([multibulk('PING'), Buffer.from(`SET k ${'x'.repeat(100)}\r\n`)]));
      await c.waitClosed();
      expect(readReplies(c.received).values).toEqual([
        { status: 'PONG' },
        { error: 'ERR Protocol error: too big inline request (over 64 bytes; send large values as RESP bulk strings)' },
      ]);
    });
  });

  describe('connections (--max-connections)', () => {
    it('refuses a client over the limit with an error and closes it, while the first is still served', async () => {
      const s = await start({ maxConnections: 1 });
      const first = await connect();
      expect(await first.text('PUT k v')).toEqual(['OK']);
      const second = await connect();
      await second.waitClosed();
      expect(second.received).toBe('-ERR max number of clients reached (--max-connections 1)\r\n');
      expect(await first.text('GET k')).toEqual(['VALUE v']);
      expect(s.logs.find('connection refused: max connections reached')).toHaveLength(1);
      expect(s.server.stats.connectionsRejected).toBe(1);
    });

    it('frees the slot when a client leaves', async () => {
      await start({ maxConnections: 1 });
      const first = await connect();
      first.write('QUIT\n');
      await first.waitClosed();
      // The server sees the close a moment after the client does: retry, bounded, on each refusal.
      for (let attempt = 0; ; attempt++) {
        const c = await connect();
        c.write('PING\n');
        const got = await c.until((r) => r.includes('\n'));
        if (got === 'PONG\n') break;
        expect(got).toMatch(/^-ERR max number of clients reached/);
        expect(attempt).toBeLessThan(100);
      }
    });
  });

  describe('output buffer (--max-output-buffer) and reads paused for a client that does not read', () => {
    const BIG = 64 * 1024;
    const LIMIT = 1024 * 1024;
    const PAUSED = 'reading paused: the client is not taking its replies';

    /** Reads exactly `n` bytes from a paused RawClient's socket, chunk by chunk (no copy per chunk). */
    function readBytes(c: RawClient, n: number): Promise<Buffer> {
      return new Promise((resolve, reject) => {
        const chunks: Buffer[] = [Buffer.from(c.received, 'latin1')];
        let got = chunks[0]?.length ?? 0;
        c.socket.removeAllListeners('data');
        const done = () => resolve(Buffer.concat(chunks));
        if (got >= n) return done();
        c.socket.on('data', (d: Buffer) => {
          chunks.push(d);
          got += d.length;
          if (got >= n) done();
        });
        c.socket.once('close', () => (got >= n ? done() : reject(new Error(`closed after ${got} of ${n} bytes`))));
        c.socket.resume();
      });
    }

    /** Bytes the server holds for its TCP clients (INFO memory: mem_clients_normal). */
    function clientMemory(s: TestServer): number {
      return s.server.memory.section().mem_clients_normal as number;
    }

    it('a client that pipelines GETs of a big value and does not read is slowed down, not cut; once it reads it gets every reply', async () => {
      const s = await start({ maxOutputBuffer: LIMIT });
      s.server.backend.put('big', 'b'.repeat(BIG));
      const other = await connect();
      const slow = await connect();
      slow.socket.pause(); // not reading, for now
      const N = 200; // 12.5 MiB of replies: far over the 1 MiB limit and the socket buffers
      slow.write('GET big\n'.repeat(N));
      await s.logs.waitFor(PAUSED);
      // The server holds less than the limit for it: the GETs it has not run wait as requests, not replies.
      expect(clientMemory(s)).toBeLessThan(LIMIT);
      expect(slow.closed).toBe(false);
      expect(s.server.stats.outputLimitDisconnects).toBe(0);
      // The other client never noticed.
      const [line] = await other.text('GET big');
      expect(line).toBe(`VALUE ${'b'.repeat(BIG)}`);
      // Now it reads: every reply, whole and in order.
      const reply = `VALUE ${'b'.repeat(BIG)}\n`;
      const got = await readBytes(slow, N * reply.length);
      expect(got.length).toBe(N * reply.length);
      expect(got.toString('latin1')).toBe(reply.repeat(N));
      expect(s.logs.find('reading resumed').length).toBeGreaterThan(0);
      expect(s.server.stats.outputLimitDisconnects).toBe(0);
    });

    it('a client that reads slowly, a little at a time, gets every reply byte for byte; the server holds a bounded amount for it and never cuts it', async () => {
      const s = await start({ maxOutputBuffer: LIMIT });
      s.server.backend.put('big', 'b'.repeat(BIG));
      const slow = await connect();
      const N = 400; // 25 MiB of replies: far more than the socket buffers on both sides hold
      const reply = `VALUE ${'b'.repeat(BIG)}\n`;
      // Paused mode, with a 'readable' listener kept on: it reads at most 16 KiB per turn of the
      // event loop, however much has arrived.
      const sock = slow.socket;
      sock.pause();
      sock.removeAllListeners('data');
      let wake: (() => void) | null = null;
      sock.on('readable', () => wake?.());
      sock.on('close', () => wake?.());
      slow.write('GET big\n'.repeat(N));
      const chunks: Buffer[] = [];
      let got = 0;
      let peak = 0;
      let reads = 0;
      while (got < N * reply.length) {
        if (slow.closed) throw new Error(`closed after ${got} bytes`);
        const chunk = sock.readableLength > 0 ? (sock.read(Math.min(16 * 1024, sock.readableLength)) as Buffer | null) : null;
        if (chunk === null) {
          await new Promise<void>((resolve) => (wake = resolve));
          continue;
        }
        chunks.push(chunk);
        got += chunk.length;
        if (++reads % 8 === 0) peak = Math.max(peak, clientMemory(s));
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      const all = Buffer.concat(chunks);
      expect(all.length).toBe(N * reply.length);
      expect(all.equals(Buffer.from(reply.repeat(N), 'latin1'))).toBe(true);
      // The server slowed it down instead of holding its replies: well under the limit all along.
      expect(peak).toBeGreaterThan(0);
      expect(peak).toBeLessThan(LIMIT);
      expect(s.logs.find(PAUSED).length).toBeGreaterThan(0);
      expect(slow.closed).toBe(false);
      expect(s.server.stats.outputLimitDisconnects).toBe(0);
    });

    it('a RESP client whose one pipelined burst owes far more than the limit gets every reply, in order', async () => {
      const s = await start({ maxOutputBuffer: LIMIT });
      for (let i = 0; i < 10; i++) s.server.backend.put(`big${i}`, String.fromCharCode(0x61 + i).repeat(BIG));
      const slow = await connect();
      slow.socket.pause();
      const N = 100;
      slow.write(Buffer.concat(Array.from({ length: N }, (_, i) => multibulk('GET', `big${i % 10}`))));
      await s.logs.waitFor(PAUSED);
      expect(clientMemory(s)).toBeLessThan(LIMIT);
      const one = `$${BIG}\r\n`.length + BIG + 2;
      const { values, end } = readReplies((await readBytes(slow, N * one)).toString('latin1'));
      expect(end).toBe(N * one);
      expect(values).toEqual(Array.from({ length: N }, (_, i) => String.fromCharCode(0x61 + (i % 10)).repeat(BIG)));
      expect(s.server.stats.outputLimitDisconnects).toBe(0);
    });

    it('replies held behind a write waiting for --fsync always count too: reading pauses, and every reply follows in order', async () => {
      await fx.start({ limits: { maxOutputBuffer: LIMIT }, persistence: { enabled: true, fsync: 'always' } });
      fx.srv.server.backend.put('big', 'b'.repeat(BIG));
      const slow = await connect();
      slow.socket.pause();
      // The SET's reply waits for the log, so the GET replies after it (12.5 MiB) queue behind it.
      const N = 200;
      slow.write(Buffer.concat([multibulk('SET', 'x', 'y'), ...Array.from({ length: N }, () => multibulk('GET', 'big'))]));
      await fx.srv.logs.waitFor(PAUSED);
      expect(clientMemory(fx.srv)).toBeLessThan(LIMIT + 2 * BIG);
      const one = `$${BIG}\r\n`.length + BIG + 2;
      const { values, end } = readReplies((await readBytes(slow, 5 + N * one)).toString('latin1'));
      expect(end).toBe(5 + N * one);
      expect(values[0]).toEqual({ status: 'OK' });
      expect(values.slice(1)).toEqual(Array.from({ length: N }, () => 'b'.repeat(BIG)));
      expect(fx.srv.server.stats.outputLimitDisconnects).toBe(0);
    });

    it('cuts a client owed one reply larger than the limit, whether it reads or never does, logs it, and serves the others', async () => {
      const s = await start({ maxOutputBuffer: LIMIT, maxValueSize: 4 * LIMIT });
      s.server.backend.put('huge', 'h'.repeat(2 * LIMIT));
      const other = await connect();
      const reader = await connect();
      reader.write('GET huge\n');
      await reader.waitClosed();
      const never = await connect();
      never.socket.pause(); // never reads: it cannot even see its socket close until it does
      never.write(multibulk('GET', 'huge'));
      const warns = await s.logs.waitForLines('client output buffer limit reached; disconnecting (the client is not reading its replies)', 2);
      for (const warn of warns) {
        expect(warn).toMatchObject({ level: 40, limit: LIMIT, transport: 'tcp' });
        expect(warn.pendingBytes).toBeGreaterThan(LIMIT);
      }
      expect(warns.map((w) => w.conn)).toEqual([2, 3]);
      expect(s.server.stats.outputLimitDisconnects).toBe(2);
      expect(await other.text('PING')).toEqual(['PONG']);
      never.socket.resume();
      await never.waitClosed();
      expect(never.received).toBe(''); // nothing of the reply it was owed
    });

    it('does not disconnect a client that reads its replies', async () => {
      const s = await start({ maxOutputBuffer: 1024 * 1024 });
      s.server.backend.put('big', 'b'.repeat(BIG));
      const c = await connect();
      for (let i = 0; i < 40; i++) {
        c.clear();
        const [line] = await c.text('GET big');
        expect(line?.length).toBe('VALUE '.length + BIG);
      }
      expect(s.server.stats.outputLimitDisconnects).toBe(0);
    });
  });
});
