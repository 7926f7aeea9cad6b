import dgram from 'node:dgram';
import net from 'node:net';
import { afterEach } from 'vitest';
import type { KvServer } from '../../src/server.js';
import type { StatSection } from '../../src/stats.js';

/**
 * A raw UDP socket for tests: send any bytes to the server and wait for the
 * datagrams that come back, by count rather than by time.
 */
export class RawUdp {
  readonly received: Buffer[] = [];
  private waiters: Array<() => void> = [];

  private constructor(
    private readonly socket: dgram.Socket,
    /** Where the server listens: 127.0.0.1, or ::1 for an IPv6 socket. */
    private readonly serverHost: string,
  ) {
    socket.on('message', (msg) => {
      this.received.push(msg);
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f();
    });
  }

  /**
   * A socket bound to `address`: any of 127.0.0.0/8 on Linux (so a test can have
   * clients from different source addresses), or ::1.
   */
  static async open(address = '127.0.0.1'): Promise<RawUdp> {
    const six = net.isIPv6(address);
    const socket = dgram.createSocket(six ? 'udp6' : 'udp4');
    await new Promise<void>((resolve) => socket.bind(0, address, resolve));
    return new RawUdp(socket, six ? '::1' : '127.0.0.1');
  }

  get port(): number {
    return this.socket.address().port;
  }

  send(buf: Uint8Array, port: number): Promise<void> {
    return new Promise((resolve, reject) => this.socket.send(buf, port, this.serverHost, (err) => (err ? reject(err) : resolve())));
  }

  /** Waits until `n` datagrams in all have arrived (fails after `timeoutMs`, a safety net only). */
  async waitFor(n: number, timeoutMs = 10_000): Promise<Buffer[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < n) {
      if (Date.now() > deadline) throw new Error(`waited for ${n} datagrams, got ${this.received.length}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
    return this.received;
  }

  /** Sends and waits for exactly one more datagram back. */
  async roundTrip(buf: Uint8Array, port: number): Promise<Buffer> {
    const n = this.received.length;
    await this.send(buf, port);
    return (await this.waitFor(n + 1))[n] as Buffer;
  }

  /**
   * Sends `count` datagrams made by `make(i)`, `window` at a time, each window once
   * the replies to the one before have all come back (so loopback drops none), and
   * forgets those replies. Bounded by `timeoutMs` in all.
   */
  async flood(port: number, count: number, make: (i: number) => Uint8Array, window = 64, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const base = this.received.length;
    for (let sent = 0; sent < count; ) {
      const n = Math.min(window, count - sent);
      await Promise.all(Array.from({ length: n }, (_, j) => this.send(make(sent + j), port)));
      sent += n;
      await this.waitFor(base + n, Math.max(1, deadline - Date.now()));
      this.received.length = base;
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

/** The server's `udp` STATS section. */
export function udpStats(server: KvServer): StatSection {
  return server.ctx.info().udp ?? {};
}

export function stat(server: KvServer, field: string): number {
  return Number(udpStats(server)[field]);
}

/** Resolves after the server has refused `n` more datagrams (it emits 'rejected' for each). */
export function rejections(server: KvServer, n: number, timeoutMs = 10_000): Promise<void> {
  const udp = server.udp;
  if (udp === null) throw new Error('the server has no UDP front-end');
  if (n <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    let left = n;
    const timer = setTimeout(() => {
      udp.off('rejected', on);
      reject(new Error(`waited for ${n} rejections, ${left} still missing`));
    }, timeoutMs);
    const on = () => {
      if (--left === 0) {
        clearTimeout(timer);
        udp.off('rejected', on);
        resolve();
      }
    };
    udp.on('rejected', on);
  });
}

/** Raw UDP sockets for a describe block: `open(address)` one; all are closed after each test. */
export function udpPeers(): (address?: string) => Promise<RawUdp> {
  const peers: RawUdp[] = [];
  afterEach(async () => {
    await Promise.all(peers.splice(0).map((p) => p.close()));
  });
  return async (address) => {
    const p = await RawUdp.open(address);
    peers.push(p);
    return p;
  };
}
