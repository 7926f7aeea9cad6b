import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { TimeoutError, UdpClient, type UdpClientEvent } from '../../clients/lib/udp-client.js';
import { decodeRequest, encodeReply, encodeRequest, Opcode, Status, type DatagramRequest } from '../../src/protocol/datagram.js';
import { replyExtensions } from '../../src/protocol/datagram-extensions.js';
import { requestArgs } from '../../src/protocol/datagram-opcodes.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

interface Fake {
  readonly port: number;
  /** Every datagram received, in order. */
  readonly received: Buffer[];
  send(b: Buffer): void;
  close(): Promise<void>;
}

/**
 * A stand-in server: `answer` sees each request (and how many came before it)
 * and returns the datagrams to send back.
 */
async function fakeServer(answer: (req: DatagramRequest, n: number, raw: Buffer) => Buffer[]): Promise<Fake> {
  const s = dgram.createSocket('udp4');
  const received: Buffer[] = [];
  let peer: dgram.RemoteInfo | null = null;
  s.on('message', (msg, rinfo) => {
    peer = rinfo;
    received.push(msg);
    for (const b of answer(decodeRequest(msg), received.length - 1, msg)) s.send(b, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  return {
    port: s.address().port,
    received,
    send: (b) => {
      if (peer) s.send(b, peer.port, peer.address);
    },
    close: () => new Promise((resolve) => s.close(() => resolve())),
  };
}

const ok = (req: DatagramRequest, value?: string) => encodeReply({ opcode: req.opcode, id: req.id, status: Status.OK, value });

describe('UdpClient', () => {
  const open: Array<{ close(): Promise<void> }> = [];
  let srv: TestServer | null = null;
  afterEach(async () => {
    for (const o of open.splice(0).reverse()) await o.close();
    await srv?.stop();
    srv = null;
  });

  async function client(port: number, opts: Parameters<typeof UdpClient.connect>[0] = {}, events?: UdpClientEvent[]): Promise<UdpClient> {
    const c = await UdpClient.connect({ port, onEvent: events ? (e) => events.push(e) : undefined, ...opts });
    open.push(c);
    return c;
  }

  it('counts request IDs up from the first one, wrapping at 2^32', async () => {
    const fake = await fakeServer((req) => [ok(req)]);
    open.push(fake);
    const c = await client(fake.port, { initialId: 0xfffffffe });
    await Promise.all([c.ping(), c.ping(), c.ping(), c.ping()]);
    expect(fake.received.map((b) => decodeRequest(b).id)).toEqual([0xfffffffe, 0xffffffff, 0, 1]);
  });

  it('starts at a random ID', async () => {
    const fake = await fakeServer((req) => [ok(req)]);
    open.push(fake);
    for (let i = 0; i < 3; i++) await (await client(fake.port)).ping();
    expect(new Set(fake.received.map((b) => decodeRequest(b).id)).size).toBe(3);
  });

  it('resends the very same bytes, same ID, until a reply comes', async () => {
    const fake = await fakeServer((req, n) => (n < 2 ? [] : [ok(req, 'v')]));
    open.push(fake);
    const c = await client(fake.port, { timeoutMs: 10, retries: 5 });
    const r = await c.request(Opcode.GET, Buffer.from('k'));
    expect(r).toMatchObject({ status: Status.OK, attempts: 3 });
    expect(r.value.toString()).toBe('v');
    expect(fake.received).toHaveLength(3);
    expect(new Set(fake.received.map((b) => b.toString('hex'))).size).toBe(1);
  });

  it('waits timeout × [1, randomFactor] first, then doubles each wait up to maxTimeoutMs, then fails with TimeoutError', async () => {
    const fake = await fakeServer(() => []);
    open.push(fake);
    const events: UdpClientEvent[] = [];
    const c = await client(fake.port, { timeoutMs: 10, retries: 4, maxTimeoutMs: 50, random: () => 0 }, events);
    const err = await c.get('k').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect(err).toMatchObject({ code: 'TIMEOUT', attempts: 5, refused: false });
    expect((err as TimeoutError).elapsedMs).toBeGreaterThan(0);
    expect(events.filter((e) => e.type === 'send').map((e) => (e.type === 'send' ? e.waitMs : 0))).toEqual([10, 20, 40, 50, 50]);
    const jitterEvents: UdpClientEvent[] = [];
    const jittered = await client(fake.port, { timeoutMs: 100, retries: 0, random: () => 0.999 }, jitterEvents);
    await jittered.ping().catch(() => undefined);
    expect(jitterEvents[0]).toMatchObject({ type: 'send', waitMs: 150 });
    expect(c.maxSpanMs).toBe(15 + 30 + 50 + 50 + 50); // the worst case: every wait at x1.5, capped at 50
  });

  it('resends at once on BAD_CHECKSUM, and with a new ID on ID_CONFLICT', async () => {
    const fake = await fakeServer((req, n) => {
      if (n === 0) return [encodeReply({ opcode: req.opcode, id: req.id, status: Status.BAD_CHECKSUM })];
      if (n === 1) return [encodeReply({ opcode: req.opcode, id: req.id, status: Status.ID_CONFLICT })];
      return [ok(req)];
    });
    open.push(fake);
    const events: UdpClientEvent[] = [];
    const c = await client(fake.port, { timeoutMs: 20_000 }, events); // a timeout would fail the test on time
    await c.put('k', 'v');
    const sends = events.filter((e) => e.type === 'send');
    expect(sends.map((e) => (e.type === 'send' ? e.reason : null))).toEqual([undefined, 'refused', 'new-id']);
    const ids = fake.received.map((b) => decodeRequest(b).id);
    expect(ids[0]).toBe(ids[1]);
    expect(ids[2]).not.toBe(ids[1]);
    expect(events.filter((e) => e.type === 'refused').map((e) => (e.type === 'refused' ? e.status : ''))).toEqual(['BAD_CHECKSUM', 'ID_CONFLICT']);
  });

  it('ignores damaged replies, requests, replies for other IDs or opcodes, and late duplicates', async () => {
    const fake = await fakeServer((req) => {
      const good = ok(req, 'right');
      const damaged = Buffer.from(good);
      damaged[damaged.length - 6] = (damaged[damaged.length - 6] as number) ^ 1;
      return [
        damaged,
        encodeRequest({ opcode: Opcode.GET, id: req.id, key: 'k' }), // a request, not a reply
        encodeReply({ opcode: req.opcode, id: (req.id + 1000) >>> 0, status: Status.OK, value: 'other id' }),
        encodeReply({ opcode: Opcode.DEL, id: req.id, status: Status.OK, value: 'other opcode' }),
        good,
        good, // a duplicate, after the answer
      ];
    });
    open.push(fake);
    const events: UdpClientEvent[] = [];
    const c = await client(fake.port, {}, events);
    expect((await c.get('k'))?.toString()).toBe('right');
    const deadline = Date.now() + 10_000;
    while (!events.some((e) => e.type === 'unknown-reply' && e.late && e.id === decodeRequest(fake.received[0] as Buffer).id)) {
      if (Date.now() > deadline) throw new Error('the late duplicate never showed');
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    const kinds = events.filter((e) => e.type !== 'send' && e.type !== 'reply').map((e) => (e.type === 'bad-reply' ? `bad:${e.reason}` : e.type));
    expect(kinds).toEqual(['bad:bad_checksum', 'bad:wrong_direction', 'unknown-reply', 'unknown-reply', 'unknown-reply']);
  });

  it('keeps thousands of requests in flight on one socket, at most maxInFlight on the wire', async () => {
    srv = await startTestServer({ logOps: false });
    let most = 0;
    const c: UdpClient = await client(srv.udpPort, {
      maxInFlight: 64,
      timeoutMs: 1000,
      onEvent: (e) => {
        if (e.type === 'send') most = Math.max(most, c.inFlightCount);
      },
    });
    const n = 3000;
    await Promise.all(Array.from({ length: n }, (_, i) => c.put(`k${i}`, `v${i}`)));
    const values = await Promise.all(Array.from({ length: n }, (_, i) => c.get(`k${i}`)));
    expect(values.every((v, i) => v?.toString() === `v${i}`)).toBe(true);
    expect(srv.server.backend.size).toBe(n);
    expect(most).toBe(64);
  });

  it('refuses locally a request too large for a datagram, sending nothing', async () => {
    const fake = await fakeServer((req) => [ok(req)]);
    open.push(fake);
    const c = await client(fake.port, { maxDatagramSize: 100 });
    await expect(c.put('k', 'x'.repeat(100))).rejects.toMatchObject({ code: 'DATAGRAM_TOO_LARGE' });
    await c.ping();
    expect(fake.received).toHaveLength(1);
  });

  it('fails what is in flight with CONNECTION when closed', async () => {
    const fake = await fakeServer(() => []);
    open.push(fake);
    const c = await UdpClient.connect({ port: fake.port, timeoutMs: 10_000 });
    const pending = c.get('k');
    await c.close();
    await expect(pending).rejects.toMatchObject({ code: 'CONNECTION' });
    await expect(c.ping()).rejects.toMatchObject({ code: 'CONNECTION' });
  });

  it('takes ICMP port unreachable as a hint by default, and as the answer with failOnUnreachable', async () => {
    // The OS's report is simulated: real ICMP errors are rate-limited by the kernel, so a test cannot count on one.
    const refused = (c: UdpClient) => (c as unknown as { socket: dgram.Socket }).socket.emit('error', Object.assign(new Error('recvmsg ECONNREFUSED'), { code: 'ECONNREFUSED' }));
    const fake = await fakeServer(() => []);
    open.push(fake);
    const patient = await client(fake.port, { timeoutMs: 5, retries: 2 });
    const first = patient.ping();
    refused(patient);
    await expect(first).rejects.toMatchObject({ code: 'TIMEOUT', attempts: 3, refused: true });
    expect(((await first.catch((e: unknown) => e)) as Error).message).toContain('nothing is listening on that port');
    const hasty = await client(fake.port, { timeoutMs: 10_000, failOnUnreachable: true });
    const both = Promise.all([hasty.ping(), hasty.get('k')]);
    refused(hasty);
    await expect(both).rejects.toMatchObject({ code: 'CONNECTION', message: expect.stringContaining('nothing is listening') });
    expect(hasty.inFlightCount).toBe(0);
  });

  describe('expiry and versions (docs/PROTOCOL.md, udp "Extensions")', () => {
    /** A fake server that records the command line each request runs, and answers with `answer`. */
    async function versioned(answer: (req: DatagramRequest) => Buffer) {
      const lines: string[][] = [];
      const fake = await fakeServer((req) => {
        lines.push(requestArgs(req.opcode, req.key.toString('latin1'), req.value.toString('latin1'), req.options));
        return [answer(req)];
      });
      open.push(fake);
      return { c: await client(fake.port), lines };
    }

    it('sends TTL and KEEPTTL on put, and a plain put with no extension at all', async () => {
      const { c, lines } = await versioned((req) => ok(req));
      await c.put('k', 'v');
      await c.put('k', 'v', { ttlMs: 1500 });
      await c.put('k', 'v', { keepTtl: true });
      expect(lines).toEqual([['PUT', 'k', 'v'], ['SET', 'k', 'v', 'PX', '1500'], ['SET', 'k', 'v', 'KEEPTTL']]);
      await expect(c.put('k', 'v', { ttlMs: 1, keepTtl: true })).rejects.toThrow(RangeError);
    });

    it('reads a value with its version and expiry, and null for a key that is not there', async () => {
      let n = 0;
      const { c, lines } = await versioned((req) =>
        n++ === 0
          ? encodeReply({ opcode: req.opcode, id: req.id, status: Status.OK, value: 'v1', extensions: replyExtensions(7, 1_767_225_600_000) })
          : encodeReply({ opcode: req.opcode, id: req.id, status: Status.NOT_FOUND }),
      );
      const got = await c.getVersioned('k');
      expect({ value: got?.value.toString(), version: got?.version, expiresAt: got?.expiresAt }).toEqual({ value: 'v1', version: 7, expiresAt: 1_767_225_600_000 });
      expect(await c.getVersioned('k')).toBeNull();
      expect(lines).toEqual([['GETVER', 'k'], ['GETVER', 'k']]);
    });

    it('reads a compare-and-set: OK with the new version, CONFLICT with the current one', async () => {
      const { c, lines } = await versioned((req) =>
        req.options.ifVersion === 3n
          ? encodeReply({ opcode: req.opcode, id: req.id, status: Status.OK, extensions: replyExtensions(req.opcode === Opcode.DEL ? 0 : 4) })
          : encodeReply({ opcode: req.opcode, id: req.id, status: Status.CONFLICT, extensions: replyExtensions(9) }),
      );
      expect(await c.cas('k', 3, 'v', { ttlMs: 60_000 })).toEqual({ applied: true, version: 4 });
      expect(await c.cas('k', 0, 'v')).toEqual({ applied: false, version: 9 });
      expect(await c.cad('k', 3)).toEqual({ applied: true, version: 0 });
      expect(await c.cad('k', 2)).toEqual({ applied: false, version: 9 });
      expect(lines).toEqual([['CAS', 'k', '3', 'v', 'PX', '60000'], ['CAS', 'k', '0', 'v'], ['CAD', 'k', '3'], ['CAD', 'k', '2']]);
    });

    it('refuses a compare-and-set reply that carries no VERSION, and passes on an error reply', async () => {
      let n = 0;
      const { c } = await versioned((req) =>
        n++ === 0 ? ok(req) : encodeReply({ opcode: req.opcode, id: req.id, status: Status.COMMAND_ERROR, value: 'NOT_INTEGER value is not an integer' }),
      );
      await expect(c.cas('k', 1, 'v')).rejects.toMatchObject({ code: 'SERVER', message: expect.stringContaining('no VERSION') });
      await expect(c.cas('k', 1, 'v')).rejects.toMatchObject({ code: 'NOT_INTEGER', status: Status.COMMAND_ERROR });
    });

    it('sends EXPIRE with TTL, or without it to persist; NOT_FOUND reads as false', async () => {
      const { c, lines } = await versioned((req) => encodeReply({ opcode: req.opcode, id: req.id, status: req.options.ttlMs === null ? Status.NOT_FOUND : Status.OK }));
      expect(await c.expire('k', 2500)).toBe(true);
      expect(await c.persist('k')).toBe(false);
      expect(lines).toEqual([['PEXPIRE', 'k', '2500'], ['PERSIST', 'k']]);
    });
  });
});
