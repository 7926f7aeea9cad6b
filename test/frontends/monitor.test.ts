import { describe, expect, it } from 'vitest';
import { monitorLine, quoteRepr } from '../../src/commands/monitor.js';
import { serverFixture } from '../helpers/server.js';
import { multibulk, request, respReplies } from './resp-reader.js';

/** `+1339518083.107412 [0 127.0.0.1:60866] "keys" "*"`: Redis's MONITOR line. */
const LINE = /^\d+\.\d{6} \[0 127\.0\.0\.1:\d+\] (.*)$/;

describe('MONITOR', () => {
  const fx = serverFixture();

  it('quotes arguments as sdscatrepr does', () => {
    expect(quoteRepr('plain')).toBe('"plain"');
    expect(quoteRepr('a "q" \\ \n\r\t\x07\x08')).toBe('"a \\"q\\" \\\\ \\n\\r\\t\\a\\b"');
    expect(quoteRepr('\x00\x7f\xff ~')).toBe('"\\x00\\x7f\\xff ~"');
    expect(monitorLine(1339518083107.412, '127.0.0.1:60866', ['keys', '*'])).toBe('1339518083.107412 [0 127.0.0.1:60866] "keys" "*"');
  });

  it("streams other clients' commands, in order, after its OK; admin commands and refused ones are not shown; AUTH is redacted", async () => {
    const watcher = await fx.connect();
    const client = await fx.connect();
    expect((await request(watcher, 'MONITOR')).value).toEqual({ status: 'OK' });
    client.write(
      Buffer.concat([
        multibulk('SET', 'k', 'v\r\n"x"'),
        multibulk('GET', 'k'),
        multibulk('CONFIG', 'GET', 'port'), // admin: never shown
        multibulk('GET'), // refused by its arity: not run, not shown
        multibulk('HELLO', '2', 'AUTH', 'default', 'pw'),
        multibulk('PING'),
      ]),
    );
    await respReplies(client, 6);
    const lines = (await respReplies(watcher, 5)).slice(1) as Array<{ status: string }>;
    const shown = lines.map((l) => LINE.exec(l.status)?.[1]);
    expect(shown).toEqual(['"SET" "k" "v\\r\\n\\"x\\""', '"GET" "k"', '"HELLO" "2" "AUTH" "(redacted)" "(redacted)"', '"PING"']);
    expect(lines[0]?.status).toContain(`[0 127.0.0.1:${client.socket.localPort}]`);
  });

  it('works from the text dialect too, one line per command', async () => {
    const watcher = await fx.connect();
    const [ok] = await watcher.text('MONITOR');
    expect(ok).toBe('OK');
    const client = await fx.connect();
    await client.text('PUT a 1');
    const [line] = await watcher.lines(2).then((l) => l.slice(1));
    expect(line).toMatch(/^\d+\.\d{6} \[0 127\.0\.0\.1:\d+\] "PUT" "a" "1"$/);
  });

  it('cuts a watcher that does not read at --max-output-buffer, and the server goes on', async () => {
    await fx.start({ limits: { maxOutputBuffer: 256 * 1024 } });
    const watcher = await fx.connect();
    expect((await request(watcher, 'MONITOR')).value).toEqual({ status: 'OK' });
    watcher.socket.pause(); // reads nothing more: the kernel's buffers fill, then the server's
    const client = await fx.connect();
    const value = 'v'.repeat(4096);
    // Bounded: far more than the limit plus what the kernel takes, sent until the watcher is cut.
    for (let round = 0; round < 200 && !watcher.closed; round++) {
      client.write(Buffer.concat(Array.from({ length: 50 }, (_, i) => multibulk('SET', `k${i}`, value))));
      await respReplies(client, (round + 1) * 50);
      if (fx.srv.server.stats.outputLimitDisconnects > 0) break;
    }
    expect(fx.srv.server.stats.outputLimitDisconnects).toBe(1);
    watcher.socket.resume(); // to see the close
    await watcher.waitClosed();
    expect(fx.srv.server.ctx.monitors?.active).toBe(false);
    expect((await request(client, 'PING')).value).toEqual({ status: 'PONG' });
  });
});
