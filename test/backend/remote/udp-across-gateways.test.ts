import { describe, expect, it } from 'vitest';
import { startChaosProxy } from '../../../clients/lib/chaos-proxy.js';
import { UdpClient } from '../../../clients/lib/udp-client.js';
import { decodeReply, encodeRequest, Opcode, Status } from '../../../src/protocol/datagram.js';
import { enableEtcdAuth, etcdClusterFixture, haveEtcd, type EtcdCluster } from '../../helpers/etcd-cluster.js';
import { gatewayFixture, until } from '../../helpers/gateway.js';
import { RawUdp, stat, udpStats } from '../../frontends/udp-helpers.js';

/**
 * docs/PROTOCOL.md, udp "Across gateways": over etcd, UDP's at-most-once promise holds
 * across every gateway on the same etcd. A retry is the same datagram from the same
 * client socket; these tests send it to one gateway, then to another, as kv-udp does when
 * the first one's reply is lost. A PUT applied twice would be seen as a lost update: the
 * retry would put back a value someone else has since replaced.
 */
describe.skipIf(!haveEtcd())('UDP at-most-once across gateways over etcd', () => {
  const etcd = etcdClusterFixture();
  const gateways = gatewayFixture();
  const gateway = (cluster: EtcdCluster, replyCacheTtlMs?: number) =>
    gateways.start(
      { kind: 'etcd', etcd: { endpoints: cluster.endpoints, prefix: 'test/', requestTimeoutMs: 3000 } },
      replyCacheTtlMs === undefined ? {} : { overrides: { udp: { replyCacheTtlMs } } },
    );

  it('a retry that reaches another gateway is answered with the first reply, and not applied again', async () => {
    const cluster = await etcd.start({ members: 1 });
    const a = await gateway(cluster);
    const b = await gateway(cluster);
    const client = await RawUdp.open();
    const put = encodeRequest({ opcode: Opcode.PUT, id: 0x1234, key: 'k', value: 'from udp' });
    const first = await client.roundTrip(put, a.server.udpPort);
    expect(decodeReply(first).status).toBe(Status.OK);
    // Someone else writes the key after the client's PUT was applied…
    expect(await b.redis.set('k', 'later')).toBe('OK');
    // …and the client, whose reply was (say) lost, sends the same datagram to gateway b.
    const retry = await client.roundTrip(put, b.server.udpPort);
    expect(retry.equals(first)).toBe(true);
    expect(await a.redis.get('k')).toBe('later');
    expect(stat(b.server.server, 'udp_shared_record_hits')).toBe(1);
    expect(stat(a.server.server, 'udp_shared_record_hits')).toBe(0);
    expect(udpStats(b.server.server).udp_shared_record).toBe('etcd under "test.udp-requests/"');
  });

  it('the same ID with other bytes is refused with ID_CONFLICT by the other gateway, and applies nothing', async () => {
    const cluster = await etcd.start({ members: 1 });
    const a = await gateway(cluster);
    const b = await gateway(cluster);
    const client = await RawUdp.open();
    expect(decodeReply(await client.roundTrip(encodeRequest({ opcode: Opcode.PUT, id: 77, key: 'k', value: 'one' }), a.server.udpPort)).status).toBe(Status.OK);
    const other = decodeReply(await client.roundTrip(encodeRequest({ opcode: Opcode.PUT, id: 77, key: 'k', value: 'two' }), b.server.udpPort));
    expect(other.status).toBe(Status.ID_CONFLICT);
    expect(stat(b.server.server, 'udp_id_conflicts')).toBe(1);
    expect(await a.redis.get('k')).toBe('one');
  });

  it('copies sent to both gateways at once apply once: one claims, the other answers the recorded reply or drops its copy', async () => {
    const cluster = await etcd.start({ members: 1 });
    const a = await gateway(cluster);
    const b = await gateway(cluster);
    const client = await RawUdp.open();
    const writes = 40;
    // EXPIRE NX applies once per key only if it runs once: a second run is refused (0).
    for (let i = 0; i < writes; i++) await a.redis.set(`e:${i}`, 'v');
    for (let i = 0; i < writes; i++) {
      const dgram = encodeRequest({ opcode: Opcode.PUT, id: 1000 + i, key: `p:${i}`, value: `v${i}` });
      await Promise.all([client.send(dgram, a.server.udpPort), client.send(dgram, b.server.udpPort)]);
    }
    // Every request got at least one OK; a copy whose twin was still running got none.
    await until(() => client.received.length >= writes, 10_000);
    const replies = client.received.map((r) => decodeReply(r));
    expect(replies.every((r) => r.status === Status.OK)).toBe(true);
    expect(new Set(replies.map((r) => r.id)).size).toBe(writes);
    // One etcd put per request: the key's version moved once from its creation.
    for (let i = 0; i < writes; i++) {
      const json = JSON.parse(await cluster.etcdctl(['get', `test/p:${i}`, '-w', 'json'])) as { kvs: Array<{ version: number }> };
      expect(json.kvs[0]?.version, `p:${i} was put ${json.kvs[0]?.version} times`).toBe(1);
    }
    const hits = stat(a.server.server, 'udp_shared_record_hits') + stat(b.server.server, 'udp_shared_record_hits');
    const dropped = stat(a.server.server, 'udp_shared_record_running') + stat(b.server.server, 'udp_shared_record_running');
    expect(hits + dropped).toBe(writes);
  });

  it('the records live outside the keyspace, on a lease that ends with the window', async () => {
    const cluster = await etcd.start({ members: 1 });
    const a = await gateway(cluster, 1000);
    const b = await gateway(cluster, 1000);
    const client = await RawUdp.open();
    const put = encodeRequest({ opcode: Opcode.PUT, id: 5, key: 'k', value: 'v' });
    const first = await client.roundTrip(put, a.server.udpPort);
    expect(await a.redis.dbsize()).toBe(1);
    expect(await a.redis.keys('*')).toEqual(['k']);
    const records = await cluster.etcdctl(['get', '--prefix', 'test.udp-requests/', '--keys-only']);
    expect(records.trim()).toBe(`test.udp-requests/127.0.0.1/${client.port}/5`);
    await b.redis.set('k', 'later');
    // The window is 1 s; the record's lease ends within two more seconds of slack.
    await until(async () => (await cluster.etcdctl(['get', '--prefix', 'test.udp-requests/', '--keys-only'])).trim() === '', 6_000);
    // A copy this late is a new request (the clients' retries end inside the window): it applies.
    const late = await client.roundTrip(put, b.server.udpPort);
    expect(decodeReply(late).status).toBe(Status.OK);
    expect(decodeReply(first).status).toBe(Status.OK);
    expect(await a.redis.get('k')).toBe('v');
  });

  it('while etcd is away a write is refused with BACKEND_UNAVAILABLE and nothing is recorded, so the retry runs once etcd is back', async () => {
    const cluster = await etcd.start({ members: 1 });
    const a = await gateway(cluster);
    const member = cluster.members[0];
    if (member === undefined) throw new Error('no member');
    const client = await RawUdp.open();
    await cluster.kill(member);
    await until(() => a.server.server.store.writeBlocker() !== null, 10_000);
    const put = encodeRequest({ opcode: Opcode.PUT, id: 9, key: 'k', value: 'v' });
    const refused = decodeReply(await client.roundTrip(put, a.server.udpPort));
    expect(refused.status).toBe(Status.UNAVAILABLE);
    await cluster.restart(member);
    await until(() => a.server.server.store.writeBlocker() === null, 15_000);
    expect(decodeReply(await client.roundTrip(put, a.server.udpPort)).status).toBe(Status.OK);
    expect(await a.redis.get('k')).toBe('v');
  });

  it('with etcd auth on, the records need the role to reach the request prefix too; without it a UDP write is refused, not run', async () => {
    const cluster = await etcd.start({ members: 1 });
    const { root, user } = await enableEtcdAuth(cluster, { prefix: 'test/' });
    const start = () =>
      gateways.start({ kind: 'etcd', etcd: { endpoints: cluster.endpoints, prefix: 'test/', user: user.user, password: user.password, requestTimeoutMs: 3000 } });
    const a = await start();
    const client = await RawUdp.open();
    const put = encodeRequest({ opcode: Opcode.PUT, id: 1, key: 'k', value: 'v' });
    const refused = decodeReply(await client.roundTrip(put, a.server.udpPort));
    expect(refused.status).toBe(Status.UNAVAILABLE);
    expect(await a.redis.get('k')).toBeNull();
    expect(stat(a.server.server, 'udp_shared_record_errors')).toBe(1);
    expect((await a.server.logs.waitFor('shared request record failed; the write was refused')).reason).toMatch(/etcd refused the gateway's credentials .*permission denied/);
    await cluster.etcdctl(['role', 'grant-permission', 'dualkv-rw', 'readwrite', 'test.udp-requests/', '--prefix=true'], { auth: root });
    const b = await start();
    expect(decodeReply(await client.roundTrip(encodeRequest({ opcode: Opcode.PUT, id: 2, key: 'k', value: 'v' }), b.server.udpPort)).status).toBe(Status.OK);
    expect(await b.redis.get('k')).toBe('v');
  });

  it('through the chaos proxy spreading one client over two gateways (drops, corruption, duplicates, reordering), each write applies once', async () => {
    const cluster = await etcd.start({ members: 1 });
    const a = await gateway(cluster);
    const b = await gateway(cluster);
    const proxy = await startChaosProxy({
      targetHost: '127.0.0.1',
      targetPort: a.server.udpPort,
      alsoTargetPorts: [b.server.udpPort],
      drop: 0.15,
      corrupt: 0.1,
      duplicate: 0.3,
      reorder: 0.1,
      seed: 11,
    });
    const client = await UdpClient.connect({ host: '127.0.0.1', port: proxy.port, timeoutMs: 60, retries: 20, maxTimeoutMs: 500 });
    try {
      const writes = 60;
      for (let i = 0; i < writes; i++) await client.put(`c:${i}`, `v${i}`);
      for (let i = 0; i < writes; i++) expect(await a.redis.get(`c:${i}`)).toBe(`v${i}`);
      // One etcd put per key: a copy run twice would have made version 2.
      const json = JSON.parse(await cluster.etcdctl(['get', '--prefix', 'test/c:', '-w', 'json'])) as { kvs: Array<{ key: string; version: number }> };
      expect(json.kvs).toHaveLength(writes);
      const twice = json.kvs.filter((kv) => kv.version !== 1).map((kv) => Buffer.from(kv.key, 'base64').toString());
      expect(twice).toEqual([]);
      // Copies did cross: both gateways got requests, and some were answered from the other's record or dropped for it.
      expect(stat(a.server.server, 'udp_requests')).toBeGreaterThan(0);
      expect(stat(b.server.server, 'udp_requests')).toBeGreaterThan(0);
      const shared = ['udp_shared_record_hits', 'udp_shared_record_running'].reduce((n, f) => n + stat(a.server.server, f) + stat(b.server.server, f), 0);
      expect(shared).toBeGreaterThan(0);
    } finally {
      await client.close();
      await proxy.close();
    }
  });
});
