import { afterEach, describe, expect, it } from 'vitest';
import { randomInt, seededRandom, type Random } from '../../clients/lib/chaos-random.js';
import { UdpClient } from '../../clients/lib/udp-client.js';
import { CRITICAL_EXTENSION, datagramCrc, decodeRequest, encodeReply, encodeRequest, Opcode, Status } from '../../src/protocol/datagram.js';
import { DatagramError } from '../../src/protocol/datagram-error.js';
import type { RejectEvent } from '../../src/frontends/udp/udp-frontend.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { RawUdp, udpStats } from './udp-helpers.js';

const FLOOD = 12_000;
const MAX = 1400;

function bytes(r: Random, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = randomInt(r, 256);
  return b;
}

function withCrc(b: Buffer): Buffer {
  b.writeUInt32BE(datagramCrc(b, b.length - 4), b.length - 4);
  return b;
}

/** A write that would change the store if it were accepted. */
function write(r: Random, keys: string[]): Buffer {
  const key = r() < 0.7 ? (keys[randomInt(r, keys.length)] as string) : `new-${randomInt(r, 1000)}`;
  return r() < 0.6
    ? encodeRequest({ opcode: Opcode.PUT, id: randomInt(r, 2 ** 32), key, value: bytes(r, randomInt(r, 100)) })
    : encodeRequest({ opcode: Opcode.DEL, id: randomInt(r, 2 ** 32), key });
}

/** One datagram the server must refuse; every kind of refusal is in the mix. */
function badDatagram(r: Random, keys: string[]): Buffer {
  const w = write(r, keys);
  switch (randomInt(r, 10)) {
    case 0:
    case 1:
    case 2: {
      // 1 to 3 bit flips in a valid write
      const flips = 1 + randomInt(r, 3);
      const seen = new Set<number>();
      while (seen.size < flips) seen.add(randomInt(r, w.length * 8));
      for (const bit of seen) w[bit >> 3] = (w[bit >> 3] as number) ^ (0x80 >> (bit & 7));
      return w;
    }
    case 3:
      return bytes(r, randomInt(r, MAX + 200)); // random bytes, some too short, some oversize
    case 4:
      w[2] = 2 + randomInt(r, 254); // a version we do not speak
      return withCrc(w);
    case 5:
      w[3] = [0, 7, 8, 0x7f, 0xff][randomInt(r, 5)] as number; // unknown opcode
      return withCrc(w);
    case 6: {
      const at = r() < 0.5 ? 4 : 5; // a reserved flag bit, or a status in a request
      w[at] = (w[at] as number) | (0x02 << randomInt(r, 6));
      return withCrc(w);
    }
    case 7: // lengths that do not add up
      w.writeUInt16BE(w.readUInt16BE(12) + (r() < 0.5 ? 1 : 200), 12);
      return withCrc(w);
    case 8: // a write with an unknown critical extension, or a GET with a value
      return r() < 0.5
        ? encodeRequest({ opcode: Opcode.PUT, id: 1, key: 'k', value: 'v', extensions: [{ type: CRITICAL_EXTENSION | 0x71, data: Buffer.from([1]) }] })
        : encodeRequest({ opcode: Opcode.GET, id: 1, key: keys[0] as string, value: 'x' });
    default: // a reply sent to the server
      return encodeReply({ opcode: Opcode.PUT, id: randomInt(r, 2 ** 32), status: Status.OK });
  }
}

describe('UDP flood of malformed datagrams', () => {
  let srv: TestServer;
  let raw: RawUdp | null = null;
  let client: UdpClient | null = null;
  afterEach(async () => {
    await client?.close();
    await raw?.close();
    await srv?.stop();
  });

  it(`refuses all ${FLOOD} random and bit-flipped datagrams: the store is unchanged and the server still answers`, async () => {
    srv = await startTestServer();
    client = await UdpClient.connect({ port: srv.udpPort, timeoutMs: 500, retries: 4 });
    const keys = Array.from({ length: 50 }, (_, i) => `key-${i}`);
    for (const k of keys) await client.put(k, `value of ${k}`);
    const before = new Map([...srv.server.backend.entries()].map((e) => [e.key, e.value]));
    const requestsBefore = Number(udpStats(srv.server).udp_requests);

    const r = seededRandom(0xf100d);
    const expected = new Map<string, number>();
    const events: RejectEvent[] = [];
    const udp = srv.server.udp;
    if (udp === null) throw new Error('no UDP front-end');
    let wake: (() => void) | null = null;
    udp.on('rejected', (e: RejectEvent) => {
      events.push(e);
      wake?.();
    });
    raw = await RawUdp.open();
    for (let i = 0; i < FLOOD; i++) {
      const d = badDatagram(r, keys);
      // The codec (tested on its own) says why this datagram must be refused.
      let reason = 'accepted';
      try {
        decodeRequest(d, MAX);
      } catch (err) {
        reason = (err as DatagramError).reason;
      }
      expect(reason).not.toBe('accepted');
      expected.set(reason, (expected.get(reason) ?? 0) + 1);
      // One at a time: the next goes once the server has refused this one.
      const seen = new Promise<void>((resolve) => (wake = resolve));
      await raw.send(d, srv.udpPort);
      await seen;
    }

    expect(events).toHaveLength(FLOOD);
    // No reply is ever larger than the datagram that caused it.
    expect(events.filter((e) => e.replied > e.size)).toEqual([]);
    const replies = events.filter((e) => e.replied > 0).length;
    await raw.waitFor(replies);
    expect(Math.max(...raw.received.map((b) => b.length))).toBeLessThanOrEqual(MAX);

    expect(new Map([...srv.server.backend.entries()].map((e) => [e.key, e.value]))).toEqual(before);
    const stats = udpStats(srv.server);
    expect(stats.udp_rejected).toBe(FLOOD);
    for (const [reason, n] of expected) expect({ reason, n: stats[`udp_rejected_${reason}`] }).toEqual({ reason, n });
    expect(expected.size).toBeGreaterThanOrEqual(10);
    expect(stats.udp_requests).toBe(requestsBefore);
    // The warn lines were rate-limited, not one per datagram.
    expect(srv.logs.find('datagram rejected').length).toBeLessThan(FLOOD / 10);

    expect((await client.get('key-7'))?.toString()).toBe('value of key-7');
    await client.put('after', 'flood');
    expect(srv.server.backend.get('after')?.value).toBe('flood');
  });
});
