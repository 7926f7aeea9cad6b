import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { RawClient } from '../helpers/socket.js';
import { multibulk, respReplies } from './resp-reader.js';

/** Random payloads, some RESP-shaped and some text-shaped, so that they reach past the first byte. */
const piece = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) => Buffer.from(b)),
  fc
    .constantFrom('*', '*2\r\n', '*1\r\n', '$', '$3\r\n', '$99999\r\n', '\r\n', '\n', '"', "'", '\\x', 'GET', 'PING', '\x00', ' ')
    .map((s) => Buffer.from(s, 'latin1')),
);
const payload = fc.array(piece, { minLength: 1, maxLength: 60 }).map((parts) => Buffer.concat(parts));

// Fixed seeds: the same bytes on every run, so that a failure can be replayed.
const PAYLOADS = fc.sample(payload, { seed: 20_261_121, numRuns: 60 });
const RESP_PAYLOADS = fc.sample(payload, { seed: 7379, numRuns: 30 }).map((p) => Buffer.concat([Buffer.from('*'), p]));

describe('garbage input', () => {
  let srv: TestServer | undefined;
  afterEach(async () => {
    await srv?.stop();
    srv = undefined;
  });

  /** Sends bytes in uneven pieces, half-closes, and waits until the server has closed its side too. */
  async function sendAndHangUp(port: number, data: Buffer, pieceSize: number): Promise<void> {
    const c = await RawClient.connect(port);
    for (let off = 0; off < data.length; off += pieceSize) c.write(data.subarray(off, off + pieceSize));
    c.socket.end();
    await c.waitClosed();
  }

  it('never crashes the server or changes the store, in either dialect', async () => {
    srv = await startTestServer();
    const seed = await RawClient.connect(srv.tcpPort);
    const keys = Array.from({ length: 20 }, (_, i) => `key${i}`);
    await seed.text(...keys.map((k) => `PUT ${k} value of ${k}`));
    seed.close();
    const before = new Map([...srv.server.backend.entries()].map((e) => [e.key, e.value]));

    const all = [...PAYLOADS, ...RESP_PAYLOADS];
    // A few connections at a time, each payload cut in a different piece size.
    for (let i = 0; i < all.length; i += 6) {
      await Promise.all(all.slice(i, i + 6).map((p, j) => sendAndHangUp(srv?.tcpPort as number, p, 1 + ((i + j) * 7) % 50)));
    }

    // The garbage did reach the codecs' error paths, not just the first byte.
    expect(srv.server.stats.protocolErrors).toBeGreaterThan(5);
    expect(srv.logs.find('op').filter((l) => l.outcome === 'error').length).toBeGreaterThan(5);

    expect(new Map([...srv.server.backend.entries()].map((e) => [e.key, e.value]))).toEqual(before);
    const writes = srv.logs.find('op').filter((l) => ['PUT', 'SET', 'DEL'].includes(l.cmd as string) && l.outcome === 'ok');
    expect(writes).toHaveLength(keys.length); // only the seeding PUTs

    // Still serving, in both dialects.
    const text = await RawClient.connect(srv.tcpPort);
    expect(await text.text('GET key7', 'DBSIZE')).toEqual(['VALUE value of key7', `INT ${keys.length}`]);
    text.close();
    const resp = await RawClient.connect(srv.tcpPort);
    resp.write(multibulk('GET', 'key3'));
    expect(await respReplies(resp, 1)).toEqual(['value of key3']);
    resp.close();
  });

  it('answers a framing error and closes, without touching the other clients', async () => {
    srv = await startTestServer();
    const bystander = await RawClient.connect(srv.tcpPort);
    bystander.write(multibulk('SET', 'safe', 'yes'));
    await respReplies(bystander, 1);
    for (const p of RESP_PAYLOADS.slice(0, 10)) await sendAndHangUp(srv.tcpPort, p, 13);
    bystander.write(multibulk('GET', 'safe'));
    expect(await respReplies(bystander, 2)).toEqual([{ status: 'OK' }, 'yes']);
    bystander.close();
  });
});
