import { afterEach, describe, expect, it } from 'vitest';
import { UdpClient } from '../../clients/lib/udp-client.js';
import { decodeReply, encodeRequest, Opcode, Status, type DatagramReply, type Extension } from '../../src/protocol/datagram.js';
import { requestExtensions, type RequestOptionsInput } from '../../src/protocol/datagram-extensions.js';
import { ManualClock, serverFixture, type TestServerOverrides } from '../helpers/server.js';
import { stat, udpPeers, type RawUdp } from './udp-helpers.js';

// docs/PROTOCOL.md, udp "Opcodes", "Extensions and versions" and "Reply cache", over real sockets.

const request = (opcode: Opcode, id: number, key: string, value?: string, o: RequestOptionsInput = {}) =>
  encodeRequest({ opcode, id, key, value, extensions: requestExtensions(o) });

describe('UDP expiry, versions and compare-and-set', () => {
  const fixture = serverFixture();
  const open = udpPeers();
  let client: UdpClient | null = null;
  afterEach(async () => {
    await client?.close();
    client = null;
  });

  /** The data's clock, which the tests move by hand (the reply cache keeps real time). */
  let clock = new ManualClock();

  async function start(overrides: TestServerOverrides = {}): Promise<{ raw: RawUdp; c: UdpClient; port: number }> {
    clock = new ManualClock();
    const srv = await fixture.start(overrides, { clock: clock.now, activeExpiry: false });
    client = await UdpClient.connect({ port: srv.udpPort, timeoutMs: 500, retries: 3 });
    return { raw: await open(), c: client, port: srv.udpPort };
  }

  async function roundTrip(raw: RawUdp, port: number, datagram: Buffer): Promise<DatagramReply & { bytes: Buffer }> {
    const bytes = await raw.roundTrip(datagram, port);
    return { ...decodeReply(bytes), bytes };
  }

  it('stores a PUT with TTL with the expiry GET + WANT_VERSION reports, and forgets the key once it has passed', async () => {
    const { c } = await start();
    await c.put('session', 'abc', { ttlMs: 60_000 });
    expect(await c.getVersioned('session')).toMatchObject({ value: Buffer.from('abc'), expiresAt: clock.ms + 60_000 });
    clock.advance(60_000);
    expect((await c.get('session'))?.toString()).toBe('abc'); // as in Redis, a key lives through its expiry millisecond
    clock.advance(1);
    expect(await c.get('session')).toBeNull();
    expect(await c.getVersioned('session')).toBeNull();
    expect(await c.expire('session', 1000)).toBe(false); // EXPIRE does not bring it back
  });

  it('expires a key on the real clock too (a smoke case: no timing is asserted)', async () => {
    const srv = await fixture.start();
    client = await UdpClient.connect({ port: srv.udpPort, timeoutMs: 500, retries: 3 });
    await client.put('brief', 'x', { ttlMs: 1 });
    const deadline = Date.now() + 10_000;
    while ((await client.get('brief')) !== null) if (Date.now() > deadline) throw new Error('the key never expired');
    expect(await client.getVersioned('brief')).toBeNull();
  });

  it('answers a TTL past 2^53 ms with an expiry as the server holds it, and one past 2^63 with NOT_INTEGER, as SET PX does', async () => {
    const { c } = await start();
    await c.put('far', 'v', { ttlMs: 2 ** 62 });
    expect((await c.getVersioned('far'))?.expiresAt).toBeGreaterThan(2 ** 62);
    const value = 'v'.repeat(60); // room in the error reply for its code
    await expect(c.put('far', value, { ttlMs: 2n ** 63n })).rejects.toMatchObject({ code: 'NOT_INTEGER' });
    await expect(c.put('far', value, { ttlMs: 2n ** 63n - 1n })).rejects.toMatchObject({ code: 'INVALID_EXPIRE' });
  });

  it('clears the expiry on a plain PUT, keeps it with KEEPTTL, and refuses a TTL of 0 as INVALID_EXPIRE', async () => {
    const { c } = await start();
    await c.put('k', 'v1', { ttlMs: 60_000 });
    const expiresAt = (await c.getVersioned('k'))?.expiresAt;
    await c.put('k', 'v2', { keepTtl: true });
    expect(await c.getVersioned('k')).toMatchObject({ expiresAt });
    await c.put('k', 'v3');
    expect(await c.getVersioned('k')).toMatchObject({ expiresAt: 0 });
    // A value long enough that the error's text, cut to the request's size, still holds its code.
    await expect(c.put('k', 'v'.repeat(60), { ttlMs: 0 })).rejects.toMatchObject({ code: 'INVALID_EXPIRE', status: Status.COMMAND_ERROR });
    expect((await c.get('k'))?.toString()).toBe('v3');
  });

  it('gives every write a new version; CAS applies only at the version read, and a conflict answers the current one', async () => {
    const { c } = await start();
    const created = await c.cas('config', 0, 'v1');
    expect(created.applied).toBe(true);
    expect(created.version).toBeGreaterThan(0);
    expect(await c.getVersioned('config')).toMatchObject({ version: created.version });
    expect(await c.cas('config', 0, 'again')).toEqual({ applied: false, version: created.version });
    const next = await c.cas('config', created.version, 'v2');
    expect(next.applied).toBe(true);
    expect(next.version).toBeGreaterThan(created.version);
    expect(await c.cas('config', created.version, 'stale')).toEqual({ applied: false, version: next.version });
    expect((await c.get('config'))?.toString()).toBe('v2');
    await c.put('config', 'plain');
    expect((await c.getVersioned('config'))?.version).toBeGreaterThan(next.version);
    // A key that does not exist is at version 0.
    expect(await c.cas('missing', 5, 'x')).toEqual({ applied: false, version: 0 });
    expect(await c.get('missing')).toBeNull();
  });

  it('deletes with CAD only at the version given', async () => {
    const { c } = await start();
    const { version } = await c.cas('lock', 0, 'owner-1');
    expect(await c.cad('lock', version + 1000)).toEqual({ applied: false, version });
    expect((await c.get('lock'))?.toString()).toBe('owner-1');
    expect(await c.cad('lock', version)).toEqual({ applied: true, version: 0 });
    expect(await c.get('lock')).toBeNull();
  });

  it('applies a CAS once when retried with the same bytes: the copy gets the first reply, not a conflict', async () => {
    const { raw, port } = await start();
    const cas = request(Opcode.PUT, 70, 'config', 'v1', { ifVersion: 0 });
    const first = await roundTrip(raw, port, cas);
    expect(first.status).toBe(Status.OK);
    // Run again, IF_VERSION 0 would now fail: the key exists. The reply cache answers instead.
    const again = await roundTrip(raw, port, cas);
    expect(again.bytes.equals(first.bytes)).toBe(true);
    expect(stat(fixture.srv.server, 'udp_reply_cache_hits')).toBe(1);
    expect(fixture.srv.server.ctx.info().commandstats?.cmdstat_cas).toMatch(/^calls=1,/);
    // A new request (a new ID) with the same condition does run, and conflicts.
    const other = await roundTrip(raw, port, request(Opcode.PUT, 71, 'config', 'v2', { ifVersion: 0 }));
    expect({ status: other.status, version: other.details.version }).toEqual({ status: Status.CONFLICT, version: first.details.version });
    // And its retry is answered from the cache too, byte for byte.
    expect((await raw.roundTrip(request(Opcode.PUT, 71, 'config', 'v2', { ifVersion: 0 }), port)).equals(other.bytes)).toBe(true);
  });

  it('sends EXPIRE through the reply cache: a late copy does not set the TTL again after PERSIST', async () => {
    const { raw, port, c } = await start();
    await c.put('k', 'v');
    const expire = request(Opcode.EXPIRE, 80, 'k', undefined, { ttlMs: 60_000 });
    expect((await roundTrip(raw, port, expire)).status).toBe(Status.OK);
    expect((await c.getVersioned('k'))?.expiresAt).toBe(clock.ms + 60_000);
    expect(await c.persist('k')).toBe(true);
    const copy = await roundTrip(raw, port, expire); // duplicated and delayed by the network
    expect(copy.status).toBe(Status.OK);
    expect(await c.getVersioned('k')).toMatchObject({ expiresAt: 0 });
    expect(stat(fixture.srv.server, 'udp_reply_cache_hits')).toBe(1);
    expect(fixture.srv.server.ctx.info().commandstats?.cmdstat_pexpire).toMatch(/^calls=1,/);
  });

  it('answers EXPIRE of a missing key with NOT_FOUND, PERSIST of a key without expiry too, and deletes a key on a TTL of 0', async () => {
    const { c } = await start();
    expect(await c.expire('missing', 1000)).toBe(false);
    await c.put('k', 'v');
    expect(await c.persist('k')).toBe(false);
    expect(await c.expire('k', 0)).toBe(true);
    expect(await c.get('k')).toBeNull();
  });

  it('refuses an unknown critical extension (UNSUPPORTED) and a TTL on GET, and applies nothing', async () => {
    const { raw, port, c } = await start();
    const unknown: Extension = { type: 0xc4, data: Buffer.from('x') };
    const put = encodeRequest({ opcode: Opcode.PUT, id: 90, key: 'k', value: 'v', extensions: [unknown] });
    expect((await roundTrip(raw, port, put)).status).toBe(Status.UNSUPPORTED);
    expect((await roundTrip(raw, port, request(Opcode.GET, 91, 'k', undefined, { ttlMs: 5 }))).status).toBe(Status.UNSUPPORTED);
    expect(await c.get('k')).toBeNull();
    expect(stat(fixture.srv.server, 'udp_rejected_unsupported_extension')).toBe(2);
  });

  it('counts a reply\'s extensions in its size: a versioned GET larger than its request goes only to a large-reply peer', async () => {
    const { raw, port, c } = await start({ udp: { largeRepliesTo: ['127.0.0.2/32'] } });
    await c.put('', '');
    // 24 bytes asked (header, CRC, WANT_VERSION), 32 answered (the same and a VERSION).
    const get = request(Opcode.GET, 100, '', undefined, { wantVersion: true });
    const refused = await roundTrip(raw, port, get);
    expect({ status: refused.status, size: refused.bytes.length }).toEqual({ status: Status.TOO_LARGE, size: get.length });
    const trusted = await open('127.0.0.2');
    const answered = await roundTrip(trusted, port, get);
    expect({ status: answered.status, size: answered.bytes.length }).toEqual({ status: Status.OK, size: 32 });
    // A CAS's reply is no larger than its request, whoever sends it.
    const cas = request(Opcode.PUT, 101, '', '', { ifVersion: answered.details.version ?? 0n });
    const applied = await roundTrip(raw, port, cas);
    expect({ status: applied.status, size: applied.bytes.length }).toEqual({ status: Status.OK, size: cas.length });
  });
});
