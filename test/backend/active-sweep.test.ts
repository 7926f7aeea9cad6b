/**
 * The active sweep's place in the event loop: while it runs slice after slice, a reply
 * to a command read between two slices is written before the next slice, not after it.
 * The command arrives over a real loopback socket, and the reply goes through the
 * WriteBatch every TCP connection uses.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ActiveSweep } from '../../src/backend/memory/active-sweep.js';
import { Keyspace } from '../../src/backend/memory/keyspace.js';
import { encodeStored } from '../../src/backend/memory/stored-value.js';
import { WRITE_BATCH } from '../../src/frontends/tcp/write-batch.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function socketPair(): Promise<{ client: net.Socket; server: net.Socket }> {
  const listener = net.createServer();
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  const port = (listener.address() as net.AddressInfo).port;
  const accepted = new Promise<net.Socket>((r) => listener.once('connection', r));
  const client = net.connect(port, '127.0.0.1');
  await new Promise<void>((r) => client.once('connect', () => r()));
  const server = await accepted;
  cleanups.push(() => {
    client.destroy();
    server.destroy();
    listener.close();
  });
  return { client, server };
}

describe('the active sweep between slices', () => {
  it('lets the replies to commands read after a slice go out before the next slice', async () => {
    let now = 1_000;
    const keyspace = new Keyspace(() => now);
    // Enough expired keys for many 1 ms slices in a row.
    for (let i = 0; i < 300_000; i++) keyspace.store(`key:${i}`, encodeStored('v'.repeat(20), i + 1, 2_000));
    now = 3_000;
    const sweep = new ActiveSweep(keyspace, () => now, (key) => void keyspace.remove(key));
    const { client, server } = await socketPair();

    // Each slice writes a "command" on the client side; the server side reads it in the
    // next I/O phase and queues its "reply" on the WriteBatch, as a TCP session does.
    const events: string[] = [];
    let commands = 0;
    server.on('data', () => {
      events.push('command read');
      WRITE_BATCH.add({ flushHeld: () => void events.push('reply written') });
    });
    const sweepSlice = sweep.sweep.bind(sweep);
    sweep.sweep = (budgetMs: number) => {
      events.push('slice');
      const r = sweepSlice(budgetMs);
      if (commands < 20 && keyspace.volatileCount > 0) {
        commands++;
        client.write('x');
      }
      return r;
    };
    sweep.start();
    cleanups.push(() => sweep.stop());
    for (let i = 0; i < 400 && keyspace.volatileCount > 0; i++) await new Promise((r) => setTimeout(r, 10));
    sweep.stop();

    expect(keyspace.volatileCount).toBe(0);
    const slices = events.filter((e) => e === 'slice').length;
    expect(slices).toBeGreaterThan(20);
    // After every command read during the sweep, its reply is written before any further slice.
    let checked = 0;
    for (let i = 0; i < events.length; i++) {
      if (events[i] !== 'command read') continue;
      const nextSlice = events.indexOf('slice', i);
      const reply = events.indexOf('reply written', i);
      if (nextSlice === -1) continue;
      checked++;
      expect(reply, `events ${i}…: ${events.slice(i, i + 4).join(', ')}`).toBeGreaterThan(i);
      expect(reply).toBeLessThan(nextSlice);
    }
    expect(checked).toBeGreaterThanOrEqual(10);
  });
});
