import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import { KvError } from '../../../src/errors.js';
import { DEFAULT_RETRY } from '../udp-client.js';
import { ErrorKind, Outcome } from './tally.js';
import type { OpKind } from './workload.js';
import { classifyMemcachedReply, decodeMemcachedFrame, encodeMemcachedCommand, encodeMemcachedRequest } from './memcached-codec.js';
import type { Done, Lane, LaneShare, Transport, TransportEvents } from './transport.js';

interface Pending {
  readonly id: number;
  readonly datagram: Buffer;
  readonly done: Done;
  attempts: number;
  waitMs: number;
  timer: NodeJS.Timeout | null;
  /** The reply's first datagram, once it came (its head says what happened). */
  first: Buffer | null;
  /** Sequence numbers seen, for replies split over several datagrams. */
  seen: Uint8Array | null;
  left: number;
}

/**
 * memcached's UDP protocol on one connected socket, with the same retry timing
 * as dualkv's UdpClient (CoAP-style: a random first wait in [timeout,
 * timeout × 1.5], doubling, DEFAULT_RETRY), so that the two are driven alike.
 * Request IDs are 16 bits: unique among the requests in flight on the socket.
 */
class MemcachedLane implements Lane {
  ready = true;
  private readonly inFlight = new Map<number, Pending>();
  private nextId = randomBytes(2).readUInt16BE(0);
  private closed = false;

  constructor(
    readonly depth: number,
    private readonly socket: dgram.Socket,
    private readonly share: LaneShare,
  ) {
    socket.on('message', (msg) => this.onMessage(msg));
    socket.on('error', () => undefined); // ICMP unreachable on a connected socket; the retries go on
  }

  get outstanding(): number {
    return this.inFlight.size;
  }

  send(op: OpKind, key: Buffer, value: Buffer, done: Done): void {
    const id = this.takeId();
    const p: Pending = {
      id,
      datagram: encodeMemcachedRequest(id, op, key, value),
      done,
      attempts: 0,
      waitMs: this.share.timeoutMs * (1 + Math.random() * (DEFAULT_RETRY.randomFactor - 1)),
      timer: null,
      first: null,
      seen: null,
      left: 1,
    };
    this.inFlight.set(id, p);
    this.transmit(p);
  }

  private takeId(): number {
    for (;;) {
      const id = this.nextId;
      this.nextId = (this.nextId + 1) & 0xffff;
      if (!this.inFlight.has(id)) return id;
    }
  }

  private transmit(p: Pending): void {
    p.attempts++;
    const wait = Math.min(p.waitMs, DEFAULT_RETRY.maxTimeoutMs);
    this.socket.send(p.datagram);
    p.timer = setTimeout(() => this.onTimeout(p), wait);
    p.waitMs = wait * DEFAULT_RETRY.backoffFactor;
  }

  private onTimeout(p: Pending): void {
    p.timer = null;
    if (p.attempts > this.share.retries) {
      this.inFlight.delete(p.id);
      p.done(Outcome.ERROR, ErrorKind.TIMEOUT, p.attempts - 1);
      return;
    }
    // A retry starts the reply over: its datagrams may come from either send.
    p.first = null;
    p.seen = null;
    p.left = 1;
    this.transmit(p);
  }

  private onMessage(msg: Buffer): void {
    const f = decodeMemcachedFrame(msg);
    if (f === null) return;
    const p = this.inFlight.get(f.id);
    if (p === undefined) return; // late, or a duplicate of a reply already counted
    if (f.total > 1) {
      if (p.seen === null || p.seen.length !== f.total) {
        p.seen = new Uint8Array(f.total);
        p.left = f.total;
      }
      if (p.seen[f.seq]) return;
      p.seen[f.seq] = 1;
    }
    if (f.seq === 0) p.first = f.body;
    if (--p.left > 0) return;
    if (p.timer) clearTimeout(p.timer);
    this.inFlight.delete(p.id);
    const r = classifyMemcachedReply(p.first ?? f.body);
    p.done(r.outcome, r.kind, p.attempts - 1);
  }

  close(kind: string): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    this.ready = false;
    for (const p of this.inFlight.values()) {
      if (p.timer) clearTimeout(p.timer);
      p.done(Outcome.ERROR, kind, p.attempts - 1);
    }
    this.inFlight.clear();
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

function connectUdp(host: string, port: number): Promise<dgram.Socket> {
  const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
  return new Promise((resolve, reject) => {
    socket.once('error', (err) => {
      socket.close();
      reject(new KvError('CONNECTION', `cannot reach udp://${host}:${port}: ${err.message}`, { cause: err }));
    });
    socket.connect(port, host, () => {
      socket.removeAllListeners('error');
      resolve(socket);
    });
  });
}

/** Sends `version` until memcached answers, failing fast on ICMP port unreachable. */
async function probe(host: string, port: number): Promise<void> {
  const socket = await connectUdp(host, port);
  const address = `udp://${host}:${port}`;
  try {
    await new Promise<void>((resolve, reject) => {
      let attempts = 0;
      let timer: NodeJS.Timeout | null = null;
      const finish = (err?: Error) => {
        if (timer) clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      socket.on('message', (msg) => {
        const f = decodeMemcachedFrame(msg);
        if (f !== null && f.id === 1 && f.body.toString('latin1').startsWith('VERSION ')) finish();
      });
      socket.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ECONNREFUSED') finish(new KvError('CONNECTION', `nothing is listening on ${address} (the OS reported ICMP port unreachable); is memcached running with -U ${port}?`));
      });
      const attempt = () => {
        if (++attempts > 8) return finish(new KvError('TIMEOUT', `no reply to "version" from ${address} after 8 attempts; is memcached running there with UDP on (-U ${port})?`));
        socket.send(encodeMemcachedCommand(1, 'version\r\n'));
        timer = setTimeout(attempt, 200);
      };
      attempt();
    });
  } finally {
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
}

export async function memcachedTransport(share: LaneShare, _events: TransportEvents): Promise<Transport> {
  await probe(share.host, share.port);
  const lanes: MemcachedLane[] = [];
  for (let i = 0; i < share.lanes; i++) lanes.push(new MemcachedLane(share.depth, await connectUdp(share.host, share.port), share));
  return {
    lanes,
    close: (kind) => Promise.all(lanes.map((l) => l.close(kind))).then(() => undefined),
  };
}
