import { afterEach, describe, expect, it } from 'vitest';
import { decodeReply, encodeRequest, Opcode, Status } from '../../src/protocol/datagram.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { RawUdp, stat, udpPeers } from './udp-helpers.js';

/**
 * docs/PROTOCOL.md, udp "Reply cache": a flood from one source must not end another
 * source's window early, or that client's retry would be applied twice. The cache is
 * kept small so that the floods, though far larger than it, stay quick.
 */
const ENTRIES = 256;
const DEL_FLOOD = 100_000;
const PUT_FLOOD = 20_000;

describe('the UDP reply cache under a flood from one port', () => {
  let srv: TestServer | null = null;
  const open = udpPeers();
  afterEach(async () => {
    await srv?.stop();
    srv = null;
  });

  /**
   * The other client (127.0.0.2) writes k=mine, someone then writes k=later, the flood
   * runs, and the other client resends its PUT: answered from the cache, k stays `later`.
   */
  async function retryAfter(flood: (raw: RawUdp, port: number) => Promise<void>): Promise<void> {
    srv = await startTestServer({ logOps: false, udp: { replyCacheEntries: ENTRIES } });
    const port = srv.udpPort;
    const other = await open('127.0.0.2');
    const flooder = await open('127.0.0.1');
    const mine = encodeRequest({ opcode: Opcode.PUT, id: 77, key: 'k', value: 'mine' });
    const first = await other.roundTrip(mine, port);
    expect(decodeReply(first).status).toBe(Status.OK);
    expect(decodeReply(await flooder.roundTrip(encodeRequest({ opcode: Opcode.PUT, id: 1, key: 'k', value: 'later' }), port)).status).toBe(Status.OK);

    await flood(flooder, port);

    const hits = stat(srv.server, 'udp_reply_cache_hits');
    const again = await other.roundTrip(mine, port);
    expect(again.equals(first)).toBe(true);
    expect(stat(srv.server, 'udp_reply_cache_hits')).toBe(hits + 1);
    expect(srv.server.backend.get('k')?.value).toBe('later'); // not applied a second time
    expect(stat(srv.server, 'udp_reply_cache_entries')).toBeLessThanOrEqual(ENTRIES);
  }

  it(`${DEL_FLOOD} DELs of missing keys evict the flooding source's own entries, not another source's`, async () => {
    await retryAfter((raw, port) => raw.flood(port, DEL_FLOOD, (i) => encodeRequest({ opcode: Opcode.DEL, id: 1000 + i, key: `missing-${i % 1000}` })));
    expect(stat(srv!.server, 'udp_reply_cache_evictions')).toBeGreaterThan(DEL_FLOOD - ENTRIES);
    expect(stat(srv!.server, 'udp_reply_cache_evictions_other_source')).toBe(0);
  });

  it(`${PUT_FLOOD} PUTs with distinct IDs evict the flooding source's own entries, not another source's`, async () => {
    await retryAfter((raw, port) => raw.flood(port, PUT_FLOOD, (i) => encodeRequest({ opcode: Opcode.PUT, id: 1000 + i, key: `f${i % 500}`, value: 'v' })));
    const evictions = stat(srv!.server, 'udp_reply_cache_evictions');
    expect(evictions).toBeGreaterThan(PUT_FLOOD - ENTRIES);
    expect(stat(srv!.server, 'udp_reply_cache_evictions_other_source')).toBe(0);
  });
});
