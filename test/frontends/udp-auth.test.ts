import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { UdpClient } from '../../clients/lib/udp-client.js';
import { datagramCrc, decodeReply, encodeRequest, Opcode, Status } from '../../src/protocol/datagram.js';
import { encodeSignedRequest, macKey, replySigned, type SigningKey } from '../../src/protocol/datagram-auth.js';
import { RequestExtension } from '../../src/protocol/datagram-extensions.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { rejections, stat, udpPeers } from './udp-helpers.js';

// docs/PROTOCOL.md "Authenticated datagrams", against a real server on port 0.

const WRITER_KEY = Buffer.alloc(32, 0x11);
const READER_KEY = Buffer.alloc(32, 0x22);
const writer: SigningKey = { id: 1, key: macKey(WRITER_KEY) };
const reader: SigningKey = { id: 2, key: macKey(READER_KEY) };

let srv: TestServer | null = null;
const peer = udpPeers();
afterEach(async () => {
  await srv?.stop();
  srv = null;
});

async function authServer(): Promise<TestServer> {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'dualkv-users-')), 'users');
  writeFileSync(file, `alice readwrite plain:pw1 udp-key=1:${WRITER_KEY.toString('hex')}\nbob read plain:pw2 udp-key=2:${READER_KEY.toString('hex')}\n`);
  chmodSync(file, 0o600);
  srv = await startTestServer({ auth: { usersFile: file, requirepass: null, protectedMode: true } });
  return srv;
}

let seq = 1000;
function signed(key: SigningKey, fields: Parameters<typeof encodeRequest>[0], o: { sender?: number; timestamp?: number; sequence?: number } = {}): Buffer {
  return encodeSignedRequest(fields, { sender: o.sender ?? 7, timestamp: o.timestamp ?? Date.now(), sequence: o.sequence ?? seq++ }, key);
}

const put = (id: number, key = 'k', value = 'v') => ({ opcode: Opcode.PUT, id, key, value });
const get = (id: number, key = 'k') => ({ opcode: Opcode.GET, id, key });

describe('authenticated datagrams', () => {
  it('runs signed requests as the key\'s user and signs the replies (the client library checks them)', async () => {
    const s = await authServer();
    const c = await UdpClient.connect({ port: s.udpPort, udpKey: { id: 1, key: WRITER_KEY } });
    try {
      await c.put('greeting', 'hello');
      expect((await c.get('greeting'))?.toString()).toBe('hello');
      expect(await c.del('greeting')).toBe(true);
    } finally {
      await c.close();
    }
    const raw = await peer();
    const req = signed(writer, get(5, 'nothing'));
    const reply = await raw.roundTrip(req, s.udpPort);
    const d = decodeReply(reply);
    expect(d.status).toBe(Status.NOT_FOUND);
    expect(replySigned(reply, d.details.auth, writer, BigInt(seq - 1), BigInt(seq - 1))).toBe(true);
    expect(replySigned(reply, d.details.auth, reader, BigInt(seq - 1), BigInt(seq - 1))).toBe(false);
  });

  it('refuses an unsigned request with UNAUTHORIZED, no larger than the request, and runs nothing', async () => {
    const s = await authServer();
    const raw = await peer();
    const req = encodeRequest(put(1));
    const reply = await raw.roundTrip(req, s.udpPort);
    expect(reply.length).toBeLessThanOrEqual(req.length);
    expect(decodeReply(reply).status).toBe(Status.UNAUTHORIZED);
    expect(stat(s.server, 'udp_rejected_unauthenticated')).toBe(1);
    const check = decodeReply(await raw.roundTrip(signed(writer, get(2)), s.udpPort));
    expect(check.status).toBe(Status.NOT_FOUND);
  });

  it('refuses every single-byte change of a signed PUT, even with the CRC made right again, and applies none', async () => {
    const s = await authServer();
    const raw = await peer();
    const req = signed(writer, put(9, 'key', 'value'));
    let refused = 0;
    for (let i = 0; i < req.length - 4; i++) {
      const bad = Buffer.from(req);
      bad[i] = (bad[i] as number) ^ 0x01;
      bad.writeUInt32BE(datagramCrc(bad, bad.length - 4), bad.length - 4);
      const done = rejections(s.server, 1);
      await raw.send(bad, s.udpPort);
      await done;
      refused++;
    }
    expect(refused).toBe(req.length - 4);
    expect(stat(s.server, 'udp_rejected_bad_mac')).toBeGreaterThan(20);
    expect(stat(s.server, 'udp_requests')).toBe(0);
    // A fresh socket, so that no late refusal is read as the answer.
    const check = decodeReply(await (await peer()).roundTrip(signed(writer, get(10, 'key')), s.udpPort));
    expect(check.status).toBe(Status.NOT_FOUND);
  });

  it('refuses an unknown key id, a wrong key, and timestamps outside the window either way', async () => {
    const s = await authServer();
    const raw = await peer();
    const cases: Array<[Buffer, string]> = [
      [signed({ id: 99, key: writer.key }, put(1)), 'unknown_key'],
      [signed({ id: 1, key: reader.key }, put(2)), 'bad_mac'],
      [signed(writer, put(3), { timestamp: Date.now() - 301_000 }), 'bad_timestamp'],
      [signed(writer, put(4), { timestamp: Date.now() + 301_000 }), 'bad_timestamp'],
    ];
    for (const [req, reason] of cases) {
      const reply = await raw.roundTrip(req, s.udpPort);
      expect(reply.length).toBeLessThanOrEqual(req.length);
      expect(decodeReply(reply).status).toBe(Status.UNAUTHORIZED);
      expect(stat(s.server, `udp_rejected_${reason}`)).toBeGreaterThan(0);
    }
    expect(stat(s.server, 'udp_requests')).toBe(0);
  });

  it('refuses a replay inside the window and a sequence number the window has moved past; unseen ones inside it pass', async () => {
    const s = await authServer();
    const raw = await peer();
    const first = signed(writer, get(1), { sequence: 200 });
    expect(decodeReply(await raw.roundTrip(first, s.udpPort)).status).toBe(Status.NOT_FOUND);
    const again = decodeReply(await raw.roundTrip(first, s.udpPort));
    expect(again.status).toBe(Status.UNAUTHORIZED);
    expect(stat(s.server, 'udp_rejected_replayed')).toBe(1);
    expect(decodeReply(await raw.roundTrip(signed(writer, get(2), { sequence: 199 }), s.udpPort)).status).toBe(Status.NOT_FOUND);
    expect(decodeReply(await raw.roundTrip(signed(writer, get(3), { sequence: 136 }), s.udpPort)).status).toBe(Status.UNAUTHORIZED);
    expect(stat(s.server, 'udp_rejected_replayed')).toBe(2);
    // Another sender has a window of its own.
    expect(decodeReply(await raw.roundTrip(signed(writer, get(4), { sender: 8, sequence: 136 }), s.udpPort)).status).toBe(Status.NOT_FOUND);
  });

  it('answers a true retry of a write from the reply cache, and refuses the same bytes replayed from another port', async () => {
    const s = await authServer();
    const raw = await peer();
    const req = signed(writer, put(77, 'once', '1'));
    const a = await raw.roundTrip(req, s.udpPort);
    const b = await raw.roundTrip(req, s.udpPort);
    expect(decodeReply(a).status).toBe(Status.OK);
    expect(b.equals(a)).toBe(true);
    expect(stat(s.server, 'udp_reply_cache_hits')).toBe(1);
    const other = await peer();
    const replayed = await other.roundTrip(req, s.udpPort);
    expect(decodeReply(replayed).status).toBe(Status.UNAUTHORIZED);
    expect(replayed.length).toBeLessThanOrEqual(req.length);
    expect(stat(s.server, 'udp_rejected_replayed')).toBe(1);
  });

  it('applies the key user\'s permission: a read-only key may read but not write (UNAUTHORIZED NOPERM, signed)', async () => {
    const s = await authServer();
    const raw = await peer();
    const req = signed(reader, put(1));
    const reply = await raw.roundTrip(req, s.udpPort);
    const d = decodeReply(reply);
    expect(d.status).toBe(Status.UNAUTHORIZED);
    expect(d.value.toString()).toMatch(/^NO_PERM/);
    expect(reply.length).toBeLessThanOrEqual(req.length);
    expect(d.details.auth).not.toBeNull();
    expect(decodeReply(await raw.roundTrip(signed(reader, get(2)), s.udpPort)).status).toBe(Status.NOT_FOUND);
  });

  it('counts one authentication per sender, not per datagram, and failed MACs each', async () => {
    const s = await authServer();
    const raw = await peer();
    for (let i = 0; i < 3; i++) await raw.roundTrip(signed(writer, get(i)), s.udpPort);
    await raw.roundTrip(signed({ id: 1, key: reader.key }, get(9)), s.udpPort);
    const auth = s.server.ctx.stats.authCounts;
    // authCounts: by transport (tcp, udp, http, ...), then ok, failed.
    expect([auth[2], auth[3]]).toEqual([1, 1]);
    expect(stat(s.server, 'udp_auth_senders')).toBe(1);
  });
});

describe('amplification with authentication required', () => {
  it('never answers an unauthenticated sender with more bytes than it sent, whatever it sends', async () => {
    const s = await authServer();
    const raw = await peer();
    const requests: Buffer[] = [];
    for (const opcode of Object.values(Opcode)) {
      requests.push(encodeRequest({ opcode, id: opcode, key: opcode === Opcode.PING ? undefined : 'k' }));
      requests.push(encodeRequest({ opcode, id: 100 + opcode }));
      requests.push(signed({ id: 1, key: reader.key }, { opcode, id: 200 + opcode, key: opcode === Opcode.PING ? undefined : 'k' }));
      requests.push(signed({ id: 42, key: writer.key }, { opcode, id: 300 + opcode }));
    }
    requests.push(encodeRequest({ opcode: Opcode.STATS, id: 400, key: 'udp' }));
    requests.push(encodeRequest({ opcode: Opcode.PING, id: 401, value: 'PONG' }));
    requests.push(encodeRequest({ opcode: 0x7e as Opcode, id: 402 }));
    requests.push(encodeRequest({ opcode: Opcode.GET, id: 403, key: 'k', extensions: [{ type: RequestExtension.AUTH, data: Buffer.alloc(3) }] }));
    const garbage = Buffer.from(encodeRequest({ opcode: Opcode.GET, id: 404, key: 'k' }));
    garbage[20] = 0xff;
    requests.push(garbage);
    for (const req of requests) {
      const reply = await raw.roundTrip(req, s.udpPort);
      expect(reply.length, `reply to ${req.toString('hex')}`).toBeLessThanOrEqual(req.length);
      expect(decodeReply(reply).status).toBeGreaterThanOrEqual(0x10);
    }
    expect(stat(s.server, 'udp_requests')).toBe(0);
  });
});

describe('protected mode over UDP', () => {
  it('refuses a sender protected mode refuses with UNAUTHORIZED DENIED no larger than its request, and runs nothing', async () => {
    srv = await startTestServer();
    (srv.server.ctx as { protectedMode?: { refuses(a: string | undefined): boolean } }).protectedMode = { refuses: (a) => a === '127.0.0.1' };
    const raw = await peer();
    for (const req of [encodeRequest(put(1)), encodeRequest({ opcode: Opcode.STATS, id: 2 }), encodeRequest({ opcode: Opcode.PING, id: 3 })]) {
      const reply = await raw.roundTrip(req, srv.udpPort);
      expect(reply.length).toBeLessThanOrEqual(req.length);
      const d = decodeReply(reply);
      expect(d.status).toBe(Status.UNAUTHORIZED);
      expect(d.value.toString()).toMatch(/^(D(E(N(I(E(D)?)?)?)?)?)?/);
    }
    expect(stat(srv.server, 'udp_rejected_protected_mode')).toBe(3);
    expect(stat(srv.server, 'udp_requests')).toBe(0);
  });
});
