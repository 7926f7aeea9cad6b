import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startChaosProxy, type ChaosEvent, type ChaosProxy } from '../../clients/lib/chaos-proxy.js';
import { encodeRequest, Opcode } from '../../src/protocol/datagram.js';
import { RawUdp } from '../frontends/udp-helpers.js';

const CLI = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../dist/clients/kv-chaos.js');

/** Waits one event-loop turn at a time until `done()`, bounded in turns and time. */
async function until(done: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (let turn = 0; !done(); turn++) {
    if (turn > 1_000_000 || Date.now() > deadline) throw new Error('gave up waiting');
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** Sends `n` distinct datagrams through the proxy, one by one, to an echo-less sink. */
async function sendThrough(proxy: ChaosProxy, from: RawUdp, n: number): Promise<Buffer[]> {
  const sent: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const d = encodeRequest({ opcode: Opcode.PUT, id: i, key: `k${i}`, value: 'v' });
    sent.push(d);
    await from.send(d, proxy.port);
  }
  return sent;
}

describe('chaos proxy', () => {
  const open: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    for (const o of open.splice(0).reverse()) await o.close();
  });

  async function setup(opts: Partial<Parameters<typeof startChaosProxy>[0]>, events?: ChaosEvent[]) {
    const target = await RawUdp.open();
    const client = await RawUdp.open();
    const proxy = await startChaosProxy({ targetHost: '127.0.0.1', targetPort: target.port, seed: 1, onEvent: events ? (e) => events.push(e) : undefined, ...opts });
    open.push(target, client, proxy);
    return { target, client, proxy };
  }

  it('forwards both ways untouched when every rate is 0, with one upstream port per client', async () => {
    const { target, client, proxy } = await setup({});
    const sent = await sendThrough(proxy, client, 20);
    const got = await target.waitFor(20);
    expect(got.map((b) => b.toString('hex'))).toEqual(sent.map((b) => b.toString('hex')));
    expect(proxy.stats().toServer).toMatchObject({ received: 20, forwarded: 20, dropped: 0, corrupted: 0 });
    expect(proxy.stats().sessions).toBe(1);
  });

  it('drops everything at --drop 1', async () => {
    const events: ChaosEvent[] = [];
    const { proxy, client } = await setup({ drop: 1 }, events);
    await sendThrough(proxy, client, 10);
    await until(() => events.length >= 10);
    expect(proxy.stats().toServer).toMatchObject({ received: 10, forwarded: 0, dropped: 10 });
    expect(events.every((e) => e.actions.join() === 'drop')).toBe(true);
  });

  it('flips 1 to 3 bits of every datagram at --corrupt 1, and says which', async () => {
    const events: ChaosEvent[] = [];
    const { target, client, proxy } = await setup({ corrupt: 1 }, events);
    const sent = await sendThrough(proxy, client, 30);
    const got = await target.waitFor(30);
    for (let i = 0; i < 30; i++) {
      const a = sent[i] as Buffer;
      const b = got[i] as Buffer;
      let bits = 0;
      for (let j = 0; j < a.length; j++) for (let x = (a[j] as number) ^ (b[j] as number); x; x &= x - 1) bits++;
      expect(bits).toBeGreaterThanOrEqual(1);
      expect(bits).toBeLessThanOrEqual(3);
    }
    expect(proxy.stats().toServer.corrupted).toBe(30);
    expect(events.every((e) => /^corrupt\(bits [\d,]+\)$/.test(e.actions[0] ?? ''))).toBe(true);
  });

  it('sends every datagram twice at --duplicate 1', async () => {
    const { target, client, proxy } = await setup({ duplicate: 1 });
    await sendThrough(proxy, client, 10);
    await target.waitFor(20);
    expect(proxy.stats().toServer).toMatchObject({ received: 10, duplicated: 10, forwarded: 20 });
  });

  it('swaps a held datagram with the next one at --reorder', async () => {
    const { target, client, proxy } = await setup({ reorder: 0.5, seed: 3 });
    const sent = await sendThrough(proxy, client, 40);
    await target.waitFor(40);
    await proxy.idle();
    const order = target.received.map((b) => sent.findIndex((s) => s.equals(b)));
    expect(order.slice().sort((x, y) => x - y)).toEqual([...Array(40).keys()]);
    expect(order).not.toEqual([...Array(40).keys()]);
    expect(proxy.stats().toServer.reordered).toBeGreaterThan(0);
  });

  it('makes the same choices for the same seed and the same traffic', async () => {
    const runs: string[][] = [];
    for (let run = 0; run < 2; run++) {
      const events: ChaosEvent[] = [];
      const { proxy, client } = await setup({ seed: 1234, drop: 0.3, corrupt: 0.3, duplicate: 0.3 }, events);
      await sendThrough(proxy, client, 50);
      await until(() => events.length >= 50);
      runs.push(events.map((e) => e.actions.join('+')));
    }
    expect(runs[0]).toEqual(runs[1]);
    expect(new Set(runs[0]).size).toBeGreaterThan(2);
  });
});

describe('kv-chaos CLI (the built dist/clients/kv-chaos.js)', () => {
  it('prints where it listens, forwards, and prints a final summary per direction on SIGTERM', async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
    const target = await RawUdp.open();
    const client = await RawUdp.open();
    const child = spawn(process.execPath, [CLI, '--target-host', '127.0.0.1', '--target-port', String(target.port), '--seed', '5', '--duplicate', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      const deadline = Date.now() + 15_000;
      while (!/listening on .*\n/.test(out)) {
        if (Date.now() > deadline) throw new Error(`no start line; output: ${out}`);
        await new Promise((resolve) => {
          child.stdout.once('data', resolve);
          setTimeout(resolve, 200); // a safety tick: the deadline above still applies
        });
      }
      const m = /^kv-chaos listening on 127\.0\.0\.1:(\d+) -> 127\.0\.0\.1:(\d+)$/m.exec(out);
      expect(m?.[2]).toBe(String(target.port));
      await client.send(Buffer.from('hello'), Number(m?.[1]));
      const got = await target.waitFor(2);
      expect(got.map((b) => b.toString())).toEqual(['hello', 'hello']);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(out).toMatch(/final \(SIGTERM\): to server: received=1 forwarded=2 dropped=0 corrupted=0 duplicated=1 reordered=0 delayed=0; to clients: received=0/);
    } finally {
      child.kill('SIGKILL');
      await target.close();
      await client.close();
    }
  });
});
