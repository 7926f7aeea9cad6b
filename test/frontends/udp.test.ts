import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { UdpClient } from '../../clients/lib/udp-client.js';
import { decodeReply, encodeRequest, MIN_DATAGRAM_SIZE, Opcode, Status } from '../../src/protocol/datagram.js';
import type { Mutation, MutationSink } from '../../src/backend/types.js';
import { startTestServer as startTestServerOn, type TestServer, type TestServerOverrides } from '../helpers/server.js';
import { RawUdp, rejections, stat, udpStats } from './udp-helpers.js';

// Every case runs on both sockets beneath the front-end (src/frontends/udp/udp-io.ts).
describe.each(['batched', 'dgram'] as const)('UDP front-end (--udp-io %s)', (io) => {
  let srv: TestServer;
  const startTestServer = (o: TestServerOverrides = {}) => startTestServerOn({ ...o, udp: { io, ...o.udp } });
  let raw: RawUdp | null = null;
  let client: UdpClient | null = null;
  afterEach(async () => {
    await client?.close();
    await raw?.close();
    client = raw = null;
    await srv?.stop();
  });

  async function connect(): Promise<UdpClient> {
    client = await UdpClient.connect({ port: srv.udpPort, timeoutMs: 500, retries: 3 });
    return client;
  }

  it('answers PUT, GET, DEL, PING and STATS from the shared store', async () => {
    srv = await startTestServer();
    const c = await connect();
    await c.put('greeting', 'hello world');
    expect((await c.get('greeting'))?.toString()).toBe('hello world');
    expect(srv.server.backend.get('greeting')?.value).toBe('hello world');
    expect(await c.del('greeting')).toBe(true);
    expect(await c.del('greeting')).toBe(false);
    expect(await c.get('greeting')).toBeNull();
    expect(await c.ping()).toBeGreaterThanOrEqual(0);
    expect(await c.stats('keyspace')).toBe('# Keyspace\r\n');
  });

  it('stores binary keys and values byte for byte', async () => {
    srv = await startTestServer();
    const c = await connect();
    const key = Buffer.from([0, 0xff, 0x0a, 0x0d, 0x20]);
    const value = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    await c.put(key, value);
    expect((await c.get(key))?.equals(value)).toBe(true);
    expect(srv.server.backend.get(key.toString('latin1'))?.value).toBe(value.toString('latin1'));
  });

  it('logs one op line per request with transport udp and the client address, never the value', async () => {
    srv = await startTestServer();
    const c = await connect();
    await c.put('k', 'secret-value');
    await c.get('k');
    const ops = srv.logs.find('op');
    expect(ops).toHaveLength(2);
    expect(ops[0]).toMatchObject({ transport: 'udp', client: `127.0.0.1:${c.localPort}`, cmd: 'PUT', key: 'k', vsize: 12, outcome: 'ok' });
    expect(ops[1]).toMatchObject({ transport: 'udp', cmd: 'GET', outcome: 'ok' });
    expect(JSON.stringify(srv.logs.lines)).not.toContain('secret-value');
  });

  it('applies a duplicated PUT once: the copy gets the cached reply even after a later DEL', async () => {
    srv = await startTestServer();
    raw = await RawUdp.open();
    const put = encodeRequest({ opcode: Opcode.PUT, id: 7, key: 'k', value: 'v1' });
    const del = encodeRequest({ opcode: Opcode.DEL, id: 8, key: 'k' });
    const first = await raw.roundTrip(put, srv.udpPort);
    expect(decodeReply(first).status).toBe(Status.OK);
    expect(decodeReply(await raw.roundTrip(del, srv.udpPort)).status).toBe(Status.OK);
    const again = await raw.roundTrip(put, srv.udpPort); // a late duplicate of the PUT
    expect(again.equals(first)).toBe(true);
    expect(srv.server.backend.has('k')).toBe(false); // not applied a second time
    const delAgain = await raw.roundTrip(del, srv.udpPort);
    expect(decodeReply(delAgain).status).toBe(Status.OK); // the first DEL's answer, not NOT_FOUND
    expect(stat(srv.server, 'udp_reply_cache_hits')).toBe(2);
    expect(srv.logs.find('op')).toHaveLength(2);
  });

  it('answers a late copy of a DEL that found nothing from the cache: it does not delete the key written since', async () => {
    srv = await startTestServer();
    raw = await RawUdp.open();
    const del = encodeRequest({ opcode: Opcode.DEL, id: 20, key: 'k' });
    const first = await raw.roundTrip(del, srv.udpPort);
    expect(decodeReply(first).status).toBe(Status.NOT_FOUND);
    expect(decodeReply(await raw.roundTrip(encodeRequest({ opcode: Opcode.PUT, id: 21, key: 'k', value: 'v' }), srv.udpPort)).status).toBe(Status.OK);
    // The network delivers a copy of the DEL after its reply (duplicated, delayed).
    expect((await raw.roundTrip(del, srv.udpPort)).equals(first)).toBe(true);
    expect(srv.server.backend.get('k')?.value).toBe('v');
  });

  it('does not keep a write refused for its own bytes (KEY_TOO_LARGE): a copy runs again, and is refused again', async () => {
    srv = await startTestServer({ limits: { maxKeySize: 4 } });
    raw = await RawUdp.open();
    const put = encodeRequest({ opcode: Opcode.PUT, id: 30, key: 'too-long', value: 'v' });
    const first = await raw.roundTrip(put, srv.udpPort);
    expect(decodeReply(first).status).toBe(Status.COMMAND_ERROR);
    expect((await raw.roundTrip(put, srv.udpPort)).equals(first)).toBe(true);
    expect(udpStats(srv.server)).toMatchObject({ udp_reply_cache_entries: 0, udp_reply_cache_skipped: 2, udp_reply_cache_hits: 0 });
    // Refused before it ran, both times: Redis's rejected_calls.
    expect(srv.server.ctx.info().commandstats?.cmdstat_put).toMatch(/^calls=0,.*rejected_calls=2,/);
  });

  it('refuses a different request that reuses a cached ID, and applies neither twice', async () => {
    srv = await startTestServer();
    raw = await RawUdp.open();
    await raw.roundTrip(encodeRequest({ opcode: Opcode.PUT, id: 9, key: 'a', value: '1' }), srv.udpPort);
    const reuse = encodeRequest({ opcode: Opcode.PUT, id: 9, key: 'b', value: '2'.repeat(200) });
    const reply = decodeReply(await raw.roundTrip(reuse, srv.udpPort));
    expect(reply.status).toBe(Status.ID_CONFLICT);
    expect(reply.value.toString()).toMatch(/^ID_CONFLICT /);
    expect(srv.server.backend.has('b')).toBe(false);
    expect(stat(srv.server, 'udp_id_conflicts')).toBe(1);
  });

  it('keeps the reply cache per client port: the same ID from another port is a new request', async () => {
    srv = await startTestServer();
    raw = await RawUdp.open();
    const other = await RawUdp.open();
    try {
      await raw.roundTrip(encodeRequest({ opcode: Opcode.PUT, id: 1, key: 'a', value: '1' }), srv.udpPort);
      const r = decodeReply(await other.roundTrip(encodeRequest({ opcode: Opcode.PUT, id: 1, key: 'b', value: '2' }), srv.udpPort));
      expect(r.status).toBe(Status.OK);
      expect(srv.server.backend.get('b')?.value).toBe('2');
    } finally {
      await other.close();
    }
  });

  it('answers a damaged request with a BAD_CHECKSUM reply no larger than the request, and counts it', async () => {
    srv = await startTestServer();
    raw = await RawUdp.open();
    const put = encodeRequest({ opcode: Opcode.PUT, id: 0xabcdef01, key: 'k', value: 'v' });
    put[put.length - 6] = (put[put.length - 6] as number) ^ 0x10; // flip one bit of the key
    const reply = await raw.roundTrip(put, srv.udpPort);
    expect(reply.length).toBeLessThanOrEqual(put.length);
    const r = decodeReply(reply);
    expect(r).toMatchObject({ status: Status.BAD_CHECKSUM, id: 0xabcdef01 });
    expect(srv.server.backend.size).toBe(0);
    expect(udpStats(srv.server)).toMatchObject({ udp_rejected: 1, udp_rejected_bad_checksum: 1, udp_error_replies_sent: 1 });
    const warn = srv.logs.find('datagram rejected');
    expect(warn[0]).toMatchObject({ level: 40, transport: 'udp', reason: 'bad_checksum', bytes: put.length, client: `127.0.0.1:${raw.port}` });
  });

  it('sends no reply to a datagram too short to answer without amplifying, or without our magic', async () => {
    srv = await startTestServer();
    raw = await RawUdp.open();
    const short = encodeRequest({ opcode: Opcode.PING, id: 1 }).subarray(0, MIN_DATAGRAM_SIZE - 1);
    const done = rejections(srv.server, 2);
    await raw.send(short, srv.udpPort);
    await raw.send(Buffer.from('GET k\r\n and some more bytes to pass the minimum'), srv.udpPort);
    await done;
    expect(udpStats(srv.server)).toMatchObject({ udp_rejected: 2, udp_rejected_truncated: 1, udp_rejected_bad_magic: 1, udp_error_replies_sent: 0 });
    // The server still answers, and nothing came back for the two refused datagrams.
    const pong = decodeReply(await raw.roundTrip(encodeRequest({ opcode: Opcode.PING, id: 2 }), srv.udpPort));
    expect(pong).toMatchObject({ id: 2, status: Status.OK });
    expect(raw.received).toHaveLength(1);
  });

  it('names its socket in STATS (udp_io)', async () => {
    srv = await startTestServer();
    expect(udpStats(srv.server).udp_io).toBe(io);
  });

  it('fails to start with EADDRINUSE, naming the address, when the UDP port is taken', async () => {
    srv = await startTestServer();
    const taken = srv.udpPort;
    await expect(startTestServer({ udpPort: taken })).rejects.toMatchObject({ code: 'EADDRINUSE', message: expect.stringContaining(`EADDRINUSE 127.0.0.1:${taken}`) });
  });

  it('refuses a datagram far over --max-datagram-size by its size on the wire, with a reply no larger than the limit', async () => {
    srv = await startTestServer({ udp: { maxDatagramSize: 200 } });
    raw = await RawUdp.open();
    const huge = encodeRequest({ opcode: Opcode.PUT, id: 4, key: 'k', value: 'x'.repeat(5000) });
    const reply = await raw.roundTrip(huge, srv.udpPort);
    expect(reply.length).toBeLessThanOrEqual(200);
    expect(decodeReply(reply)).toMatchObject({ id: 4, status: Status.TOO_LARGE });
    expect(srv.logs.find('datagram rejected')[0]).toMatchObject({ reason: 'oversize', bytes: huge.length });
    expect(udpStats(srv.server)).toMatchObject({ udp_rejected_oversize: 1, udp_bytes_received: huge.length });
    expect(srv.server.backend.size).toBe(0);
  });

  it('carries a datagram near the UDP limit when --max-datagram-size is raised to it', async () => {
    srv = await startTestServer({ udp: { maxDatagramSize: 65507 } });
    client = await UdpClient.connect({ port: srv.udpPort, timeoutMs: 500, retries: 3, maxDatagramSize: 65507 });
    const value = Buffer.alloc(65000, 0xab);
    await client.put('big', value);
    expect((await client.get('big'))?.equals(value)).toBe(true);
    expect(udpStats(srv.server)).toMatchObject({ udp_rejected: 0, udp_replies_too_large: 0 });
  });

  it('answers a burst from many clients at once, each reply to its own sender', async () => {
    srv = await startTestServer();
    const peers = await Promise.all(Array.from({ length: 100 }, () => RawUdp.open()));
    try {
      // 300 requests sent without waiting: the server reads them in batches, and each
      // batch's replies go back together.
      await Promise.all(
        peers.flatMap((p, i) => [
          p.send(encodeRequest({ opcode: Opcode.PUT, id: 3 * i, key: `k${i}`, value: `v${i}` }), srv.udpPort),
          p.send(encodeRequest({ opcode: Opcode.PING, id: 3 * i + 1 }), srv.udpPort),
          p.send(encodeRequest({ opcode: Opcode.GET, id: 3 * i + 2, key: `k${i}` }), srv.udpPort),
        ]),
      );
      for (const [i, p] of peers.entries()) {
        const replies = (await p.waitFor(3)).map((b) => decodeReply(b));
        expect(replies.map((r) => r.id).sort((a, b) => a - b)).toEqual([3 * i, 3 * i + 1, 3 * i + 2]);
        expect(replies.every((r) => r.status === Status.OK)).toBe(true);
        expect(srv.server.backend.get(`k${i}`)?.value).toBe(`v${i}`);
      }
      expect(udpStats(srv.server)).toMatchObject({ udp_requests: 300, udp_datagrams_sent: 300, udp_send_errors: 0 });
    } finally {
      await Promise.all(peers.map((p) => p.close()));
    }
  });

  it('answers, each to its sender, a burst of PUTs that all waited for the log', async () => {
    srv = await startTestServer();
    const held = heldSink();
    srv.server.backend.setSink(held.sink);
    const peers = await Promise.all(Array.from({ length: 100 }, () => RawUdp.open()));
    try {
      await Promise.all(peers.map((p, i) => p.send(encodeRequest({ opcode: Opcode.PUT, id: 1000 + i, key: `k${i}`, value: 'v' }), srv.udpPort)));
      const c = await connect(); // a PING round trip: every PUT has been read by now
      await c.ping();
      expect(held.records).toHaveLength(100);
      held.release(); // all 100 replies are made at once, more than one send batch holds
      for (const [i, p] of peers.entries()) expect(decodeReply((await p.waitFor(1))[0] as Buffer)).toMatchObject({ id: 1000 + i, status: Status.OK });
      expect(stat(srv.server, 'udp_send_errors')).toBe(0);
    } finally {
      await Promise.all(peers.map((p) => p.close()));
    }
  });

  it('serves IPv6 clients on ::1 and logs their address', async () => {
    srv = await startTestServer({ host: '::1' });
    client = await UdpClient.connect({ host: '::1', port: srv.udpPort, timeoutMs: 500, retries: 3 });
    await client.put('six', 'v6');
    expect((await client.get('six'))?.toString()).toBe('v6');
    expect(srv.logs.find('op')[0]).toMatchObject({ client: `::1:${client.localPort}`, cmd: 'PUT' });
  });

  it('refuses a datagram over --max-datagram-size with TOO_LARGE', async () => {
    srv = await startTestServer({ udp: { maxDatagramSize: 200 } });
    raw = await RawUdp.open();
    const big = encodeRequest({ opcode: Opcode.PUT, id: 3, key: 'k', value: 'x'.repeat(300) });
    const r = decodeReply(await raw.roundTrip(big, srv.udpPort));
    expect(r.status).toBe(Status.TOO_LARGE);
    expect(r.value.toString()).toMatch(/^DATAGRAM_TOO_LARGE .*use TCP/);
    expect(stat(srv.server, 'udp_rejected_oversize')).toBe(1);
    expect(srv.server.backend.size).toBe(0);
  });

  it('answers a GET whose value does not fit in a datagram with TOO_LARGE, pointing to TCP', async () => {
    srv = await startTestServer({ udp: { maxDatagramSize: 200 } });
    srv.server.backend.put('big', 'y'.repeat(500));
    const c = await connect();
    await expect(c.get('big')).rejects.toMatchObject({ code: 'DATAGRAM_TOO_LARGE', status: Status.TOO_LARGE });
    expect(stat(srv.server, 'udp_replies_too_large')).toBe(1);
  });

  it('passes command errors through with their code: a key over --max-key-size', async () => {
    srv = await startTestServer({ limits: { maxKeySize: 4 } });
    const c = await connect();
    // Long enough that the reply, cut to the request's size, still carries the code.
    await expect(c.put('too-long'.repeat(4), 'v')).rejects.toMatchObject({ code: 'KEY_TOO_LARGE', status: Status.COMMAND_ERROR });
    expect(srv.server.backend.size).toBe(0);
  });

  it('fits STATS into one datagram by naming the sections it leaves out, and allStats fetches them', async () => {
    // Room for the udp section alone, and far from room for the whole text.
    srv = await startTestServer({ udp: { maxDatagramSize: 1400 } });
    const c = await connect();
    const first = await c.stats();
    expect(first.length).toBeLessThanOrEqual(1400 - MIN_DATAGRAM_SIZE);
    expect(first).toMatch(/# Omitted: [a-z,]*udp[a-z,]*\r\n$/);
    const all = await c.allStats();
    expect(all).toContain('# Server');
    expect(all).toContain('udp_rejected:0');
    expect(all).not.toContain('Omitted');
  });

  it('rate-limits the warn lines about refused datagrams, and counts every one', async () => {
    srv = await startTestServer({ udp: { rejectLogPerSecond: 3 } });
    raw = await RawUdp.open();
    const done = rejections(srv.server, 50);
    for (let i = 0; i < 50; i++) await raw.send(Buffer.alloc(30, i), srv.udpPort);
    await done;
    expect(stat(srv.server, 'udp_rejected')).toBe(50);
    const lines = srv.logs.find('datagram rejected').length;
    expect(lines).toBeGreaterThanOrEqual(3);
    expect(lines).toBeLessThan(50);
    expect(stat(srv.server, 'udp_reject_logs_suppressed')).toBe(50 - lines);
  });

  it('logs nothing per op with --no-log-ops, and still counts the commands', async () => {
    srv = await startTestServer({ logOps: false });
    const c = await connect();
    await c.put('k', 'v');
    expect(srv.logs.find('op')).toHaveLength(0);
    expect(srv.server.ctx.info().commandstats?.cmdstat_put).toMatch(/^calls=1,/);
  });

  /** A log that holds every write until the test releases it, as --fsync always does until fsync. */
  function heldSink(): { sink: MutationSink; records: Mutation[]; release(): void } {
    const records: Mutation[] = [];
    let release!: () => void;
    const durable = new Promise<void>((resolve) => (release = resolve));
    return { sink: { writeBlocker: () => null, record: (m) => (records.push(m), durable), recordAll: (ms) => (records.push(...ms), durable) }, records, release: () => release() };
  }

  it('drops a retry that arrives while the first copy waits for the log; the one reply answers both', async () => {
    srv = await startTestServer();
    const held = heldSink();
    srv.server.backend.setSink(held.sink);
    raw = await RawUdp.open();
    const put = encodeRequest({ opcode: Opcode.PUT, id: 77, key: 'k', value: 'v' });
    await raw.send(put, srv.udpPort);
    const c = await connect(); // a PING round trip proves the server has read the PUT and its copy
    await raw.send(put, srv.udpPort);
    await c.ping();
    expect(held.records).toHaveLength(1);
    expect(stat(srv.server, 'udp_retries_while_running')).toBe(1);
    expect(raw.received).toHaveLength(0); // not acknowledged before the log says so
    held.release();
    const [reply] = await raw.waitFor(1);
    expect(decodeReply(reply as Buffer)).toMatchObject({ id: 77, status: Status.OK });
    // A later retry gets the cached reply.
    expect((await raw.roundTrip(put, srv.udpPort)).equals(reply as Buffer)).toBe(true);
    expect(held.records).toHaveLength(1);
  });

  it('on stop, sends the replies still waiting for the log before closing the socket', async () => {
    srv = await startTestServer();
    const held = heldSink();
    srv.server.backend.setSink(held.sink);
    raw = await RawUdp.open();
    await raw.send(encodeRequest({ opcode: Opcode.PUT, id: 6, key: 'k', value: 'v' }), srv.udpPort);
    const c = await connect();
    await c.ping();
    await c.close();
    client = null;
    const stopped = srv.stop();
    held.release();
    await stopped;
    const [reply] = await raw.waitFor(1);
    expect(decodeReply(reply as Buffer)).toMatchObject({ id: 6, status: Status.OK });
  });

  it('acknowledges a PUT under --fsync always only once it is on disk: it survives a restart', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dualkv-udp-'));
    try {
      srv = await startTestServer({ dataDir: dir, persistence: { enabled: true, fsync: 'always' } });
      const c = await connect();
      await c.put('durable', 'yes');
      expect(await c.del('durable')).toBe(true);
      await c.put('durable', 'again');
      await c.close();
      client = null;
      await srv.stop();
      srv = await startTestServer({ dataDir: dir, persistence: { enabled: true, fsync: 'always' } });
      expect(srv.server.backend.get('durable')?.value).toBe('again');
    } finally {
      await srv?.stop(); // stop is idempotent: afterEach's second call does nothing
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
