import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TcpClient } from '../clients/lib/tcp-client.js';
import { KvError } from '../src/errors.js';
import { OOM_MESSAGE, resolveMemoryLimits } from '../src/memory.js';
import { ENTRY_OVERHEAD, EXTERNAL_STRING_MIN } from '../src/backend/memory/keyspace.js';
import { MemoryBackend } from '../src/backend/memory/memory-backend.js';
import { canMakeMemoryCgroup, createMemoryCgroup, type MemoryCgroup } from './helpers/cgroup.js';
import { requireBuilt, ServerProcess } from './helpers/process.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { RawClient } from './helpers/socket.js';
import { decodeReply, encodeRequest, Opcode, Status } from '../src/protocol/datagram.js';
import { multibulk, respReplies } from './frontends/resp-reader.js';
import { RawUdp } from './frontends/udp-helpers.js';

const MiB = 1024 * 1024;

describe('the store counts what it holds', () => {
  it('counts keys, values and entries as they change, and comes back to zero', () => {
    const s = new MemoryBackend();
    s.put('k', 'v'.repeat(100));
    const one = s.dataBytes;
    // A 16-byte header per string, rounded up to 8, plus the entry; the value carries its 8-byte version header.
    expect(one).toBe(ENTRY_OVERHEAD + 24 + 128);
    s.put('k', 'v'.repeat(10)); // an overwrite counts the new value instead of the old
    expect(s.dataBytes).toBe(ENTRY_OVERHEAD + 24 + 40);
    s.applyRecovered({ kind: 'put', key: 'j', value: 'x', version: 9, expiresAt: 0 }); // recovery counts too
    s.delete(['k']);
    s.applyRecovered({ kind: 'del', key: 'j', version: 10 });
    expect(s.dataBytes).toBe(0);
    expect(s.memory).toEqual({ heap: 0, external: 0 });
  });

  it('counts a long value outside the heap, where --max-old-space-size does not see it', () => {
    const s = new MemoryBackend();
    s.put('big', Buffer.alloc(2 * MiB, 1).toString('latin1'));
    expect(s.memory.external).toBeGreaterThanOrEqual(2 * MiB);
    expect(s.memory.heap).toBeLessThan(1024);
    expect(EXTERNAL_STRING_MIN).toBeLessThan(2 * MiB);
  });
});

describe('the memory limit', () => {
  it('auto leaves a third of what the process may use for data when persistence is on, a half when off', () => {
    const on = resolveMemoryLimits({ policy: 'noeviction', samples: 5, maxmemory: 'auto', maxmemoryClients: { percent: 10 } }, true);
    const off = resolveMemoryLimits({ policy: 'noeviction', samples: 5, maxmemory: 'auto', maxmemoryClients: { percent: 10 } }, false);
    expect(on.maxmemory).toBeLessThan(on.usable / 3);
    expect(off.maxmemory).toBeLessThan(off.usable / 2);
    expect(off.maxmemory).toBeGreaterThan(on.maxmemory);
    expect(on.maxmemoryClients).toBe(Math.max(32 * MiB, Math.floor(on.maxmemory / 10)));
    expect(on.how).toMatch(/^auto: /);
    const fixed = resolveMemoryLimits({ policy: 'noeviction', samples: 5, maxmemory: 64 * MiB, maxmemoryClients: 8 * MiB }, true);
    expect(fixed).toMatchObject({ maxmemory: 64 * MiB, maxmemoryClients: 8 * MiB });
  });

  let srv: TestServer | undefined;
  const clients: Array<RawClient | TcpClient> = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) void c.close();
    await srv?.stop();
    srv = undefined;
  });

  it('counts the change history that watchers read in used_memory (mem_change_log)', async () => {
    srv = await startTestServer({});
    const raw = await RawClient.connect(srv.tcpPort);
    clients.push(raw);
    const mem = () => srv!.server.memory.section();
    const before = mem();
    expect(before.mem_change_log).toBe(0);
    // A watcher (CHANGES reads the history), then 200 keys of 1 KiB written and deleted: the store is empty again, the history is not.
    raw.write(multibulk('CHANGES', '0'));
    await respReplies(raw, 1);
    for (let i = 0; i < 200; i++) srv.server.backend.put(`${i}`.padStart(1024, 'k'), 'v');
    for (let i = 0; i < 200; i++) srv.server.backend.delete([`${i}`.padStart(1024, 'k')]);
    const after = mem();
    expect(after.mem_change_log as number).toBeGreaterThan(400 * 1024);
    expect((after.used_memory as number) - (before.used_memory as number)).toBeGreaterThanOrEqual((after.mem_change_log as number) - 64 * 1024);
  });

  it("refuses SET and PUT with Redis's OOM error at --maxmemory, in both dialects; reads and DEL go on, and DEL makes room", async () => {
    srv = await startTestServer({ memory: { policy: 'noeviction', samples: 5, maxmemory: 2 * MiB, maxmemoryClients: 32 * MiB } });
    const value = 'v'.repeat(64 * 1024);
    const c = await TcpClient.connect({ port: srv.tcpPort });
    clients.push(c);
    let stored = 0;
    let refused: unknown = null;
    for (let i = 0; i < 100 && refused === null; i++) {
      try {
        await c.set(`k${i}`, value);
        stored++;
      } catch (err) {
        refused = err;
      }
    }
    expect(refused).toBeInstanceOf(KvError);
    expect((refused as Error).message).toBe(`OOM ${OOM_MESSAGE}`);
    // Written until the count passed 2 MiB: about 31 values of 64 KiB, then refusals.
    expect(stored).toBeGreaterThan(20);
    expect(stored).toBeLessThan(34);

    // Now clearly over the limit (the count above includes client buffers, which come and go).
    srv.server.backend.put('filler', 'f'.repeat(MiB));
    const raw = await RawClient.connect(srv.tcpPort);
    clients.push(raw);
    raw.write(Buffer.concat([multibulk('SET', 'more', 'x'), multibulk('GET', 'k0'), multibulk('EXISTS', 'k1'), multibulk('DBSIZE')]));
    expect(await respReplies(raw, 4)).toEqual([{ error: `OOM ${OOM_MESSAGE}` }, value, 1, stored + 1]);
    const text = await RawClient.connect(srv.tcpPort);
    clients.push(text);
    expect(await text.text('PUT more x')).toEqual([`ERR OOM ${OOM_MESSAGE}`]);

    // DEL is not refused, and frees room for the next write.
    expect(await c.del(['filler', 'k0', 'k1', 'k2'])).toBe(4);
    await c.set('more', value);
    expect((await c.get('more'))?.length).toBe(value.length);
    // Over UDP: UNAVAILABLE (try again later), with the OOM code.
    srv.server.backend.put('filler', 'f'.repeat(MiB));
    const udp = await RawUdp.open();
    try {
      const put = encodeRequest({ opcode: Opcode.PUT, id: 7, key: 'udp', value: 'x'.repeat(200) });
      const reply = decodeReply(await udp.roundTrip(put, srv.udpPort));
      expect(reply.status).toBe(Status.UNAVAILABLE);
      expect(reply.value.toString('latin1')).toMatch(/^OOM /);
      expect(srv.server.backend.has('udp')).toBe(false);
    } finally {
      await udp.close();
    }
    const info = await c.stats();
    expect(Number(info.memory?.oom_refused_writes)).toBeGreaterThanOrEqual(3);
    expect(Number(info.memory?.maxmemory)).toBe(2 * MiB);
    expect(Number(info.memory?.used_memory)).toBeGreaterThan(1.5 * MiB);
    expect(srv.logs.find('writes refused with OOM: used memory is over --maxmemory (raise --maxmemory, or delete keys)').length).toBeGreaterThan(0);
  });
});

/**
 * A real server in a real memory cgroup, flooded until it refuses, then restarted under
 * the same limit: it must stay up, and the restart must hold every acknowledged write.
 */
describe.skipIf(!canMakeMemoryCgroup())('a server inside a memory cgroup', () => {
  const dirs: string[] = [];
  const groups: MemoryCgroup[] = [];
  const procs: ServerProcess[] = [];
  const clients: TcpClient[] = [];

  beforeAll(() => requireBuilt());
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close().catch(() => undefined);
    for (const p of procs.splice(0)) await p.kill();
    for (const g of groups.splice(0)) g.remove();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  async function start(dir: string, limit: number, nodeArgs: string[] = []): Promise<{ proc: ServerProcess; client: TcpClient; group: MemoryCgroup }> {
    const group = createMemoryCgroup(limit) as MemoryCgroup;
    groups.push(group);
    const proc = ServerProcess.spawn(['--port', '0', '--data-dir', path.join(dir, 'data'), '--log-dir', path.join(dir, 'logs'), '--no-log-ops'], {
      prelude: group.prelude,
      nodeArgs,
    });
    procs.push(proc);
    const { tcpPort } = await proc.listening();
    const client = await TcpClient.connect({ port: tcpPort, timeoutMs: 20_000 });
    clients.push(client);
    return { proc, client, group };
  }

  async function stop(proc: ServerProcess, client: TcpClient): Promise<void> {
    await client.close();
    proc.child.kill('SIGTERM');
    expect(await proc.exit(30_000)).toEqual({ code: 0, signal: null });
  }

  function tempDir(): string {
    const d = mkdtempSync(path.join(tmpdir(), 'dualkv-mem-'));
    dirs.push(d);
    return d;
  }

  it('1 MiB values: the default limit comes from the cgroup, writes are refused with OOM, and a restart holds every acknowledged one', async () => {
    const LIMIT = 320 * MiB;
    const dir = tempDir();
    const { proc, client } = await start(dir, LIMIT);
    const limitLine = proc.find('memory limit')[0];
    expect(limitLine?.how).toMatch(/cgroup limit/);
    expect(limitLine?.maxmemory).toBe(Math.floor((LIMIT - 96 * MiB) / 3));

    // 1 MiB values live outside V8's heap: only the server's own count can stop them.
    const value = (i: number) => Buffer.alloc(MiB, i % 251);
    const acked: number[] = [];
    let refusals = 0;
    for (let i = 0; i < 400 && refusals < 20; i += 4) {
      const batch = [i, i + 1, i + 2, i + 3];
      const results = await Promise.allSettled(batch.map((k) => client.set(`big:${k}`, value(k))));
      results.forEach((r, j) => {
        if (r.status === 'fulfilled') acked.push(batch[j] as number);
        else if (String((r.reason as Error).message).startsWith('OOM ')) refusals++;
        else throw r.reason;
      });
    }
    expect(refusals).toBeGreaterThanOrEqual(20);
    expect(acked.length).toBeGreaterThan(40);
    expect(proc.alive).toBe(true);
    // Reads still work at the limit.
    expect((await client.get(`big:${acked[0]}`))?.equals(value(acked[0] as number))).toBe(true);
    await stop(proc, client);

    const again = await start(dir, LIMIT);
    expect(await again.client.command(['DBSIZE'])).toBe(acked.length);
    for (const k of acked) expect((await again.client.get(`big:${k}`))?.equals(value(k)), `big:${k}`).toBe(true);
    // It can snapshot what it loaded (the worker's copy fits), and still refuses at the limit.
    expect(await again.client.command(['SAVE'])).toBe('OK');
    await expect(again.client.set('one-more', value(1))).rejects.toThrow(/^OOM /);
    expect(again.proc.alive).toBe(true);
    await stop(again.proc, again.client);
  });

  it('tiny values in a small V8 heap: writes are refused before the heap runs out, and a restart holds every acknowledged one', async () => {
    const dir = tempDir();
    const heap = ['--max-old-space-size=64'];
    const { proc, client } = await start(dir, 512 * MiB, heap);
    const acked: number[] = [];
    let refused = false;
    // Bounded: the 64 MiB heap is full after some hundreds of thousands of keys.
    for (let batch = 0; batch < 2000 && !refused; batch++) {
      const base = batch * 500;
      const results = await Promise.allSettled(Array.from({ length: 500 }, (_, j) => client.set(`key:${base + j}`, `v${(base + j) % 1000}`)));
      for (const [j, r] of results.entries()) {
        if (r.status === 'fulfilled') acked.push(base + j);
        else if (String((r.reason as Error).message).startsWith('OOM ')) refused = true;
        else throw r.reason;
      }
    }
    expect(refused).toBe(true);
    expect(acked.length).toBeGreaterThan(50_000);
    expect(proc.alive).toBe(true);
    const heapFull = "writes refused with OOM: the keys and short values fill V8's heap (raise --max-old-space-size, or delete keys)";
    await proc.until((lines) => lines.some((l) => l.msg === heapFull), 'the OOM warning');
    expect(await client.command(['DBSIZE'])).toBe(acked.length);
    await stop(proc, client);

    const again = await start(dir, 512 * MiB, heap);
    expect(await again.client.command(['DBSIZE'])).toBe(acked.length);
    const sample = acked.filter((_, i) => i % 997 === 0 || i === acked.length - 1);
    const got = await Promise.all(sample.map((k) => again.client.get(`key:${k}`)));
    expect(got.map((v) => v?.toString())).toEqual(sample.map((k) => `v${k % 1000}`));
    expect(await again.client.command(['SAVE'])).toBe('OK');
    await stop(again.proc, again.client);
  });
});
