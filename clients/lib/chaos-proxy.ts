import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { randomInt, seededRandom, type Random } from './chaos-random.js';

/**
 * A UDP proxy that damages traffic on purpose: it drops, corrupts (flips bits
 * anywhere in the datagram), duplicates, reorders and delays datagrams, in both
 * directions, each with its own probability, from a seeded PRNG.
 *
 * Each client (address and port) gets its own upstream socket, so the server sees
 * one distinct peer per client, as it would without the proxy; its reply cache and
 * request IDs stay per client. With more target ports (gateways on one host), a client's
 * datagrams go to each in turn from that one socket, as a load balancer that keeps the
 * client's source address spreads them.
 */

export interface ChaosOptions {
  readonly targetHost: string;
  readonly targetPort: number;
  /** More servers on targetHost: the datagrams to the servers go to each target port in turn. */
  readonly alsoTargetPorts?: readonly number[];
  readonly listenHost?: string;
  readonly listenPort?: number;
  /** Probabilities from 0 to 1, applied independently to each datagram in each direction. */
  readonly drop?: number;
  readonly corrupt?: number;
  readonly duplicate?: number;
  readonly reorder?: number;
  /** Each datagram waits a random extra 0..delayMs ms. */
  readonly delayMs?: number;
  readonly seed?: number;
  /** Called for every datagram: what --verbose prints. */
  readonly onEvent?: (e: ChaosEvent) => void;
  /** Clients remembered at once; the least recently active one is forgotten past this. */
  readonly maxSessions?: number;
}

export type Direction = 'toServer' | 'toClient';

export interface ChaosEvent {
  readonly direction: Direction;
  readonly client: string;
  readonly size: number;
  /** What happened to this datagram, e.g. ['duplicate', 'corrupt(bits 13,200)', 'delay 4ms'], or ['drop']. */
  readonly actions: readonly string[];
}

/** Counts per direction. `forwarded` counts datagrams sent on, duplicates included. */
export interface DirectionStats {
  received: number;
  forwarded: number;
  dropped: number;
  /** Copies sent with bits flipped. */
  corrupted: number;
  duplicated: number;
  reordered: number;
  delayed: number;
}

export interface ChaosStats {
  readonly toServer: DirectionStats;
  readonly toClient: DirectionStats;
  readonly sessions: number;
}

export interface ChaosProxy {
  readonly host: string;
  readonly port: number;
  /** `host:port` of the server behind the proxy. */
  readonly target: string;
  readonly seed: number;
  stats(): ChaosStats;
  /** Resolves when no datagram is held back or delayed. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

/** A reordered datagram waits for the next one in its direction, but never longer than this. */
const REORDER_HOLD_MS = 20;
const SESSION_IDLE_MS = 120_000;

interface Session {
  readonly key: string;
  readonly address: string;
  readonly port: number;
  readonly upstream: dgram.Socket;
  lastSeen: number;
}

interface Held {
  readonly send: () => void;
  readonly timer: NodeJS.Timeout;
}

function emptyStats(): DirectionStats {
  return { received: 0, forwarded: 0, dropped: 0, corrupted: 0, duplicated: 0, reordered: 0, delayed: 0 };
}

function rate(name: string, v: number | undefined): number {
  const r = v ?? 0;
  if (!(r >= 0 && r <= 1)) throw new RangeError(`--${name} must be a probability from 0 to 1; got ${v}`);
  return r;
}

/** Flips 1 to 3 distinct bits anywhere in a copy of `buf` (CRC-32 is certain to catch that many). */
function flipBits(buf: Buffer, random: Random): { copy: Buffer; bits: number[] } {
  const copy = Buffer.from(buf);
  const total = copy.length * 8;
  const want = Math.min(total, 1 + randomInt(random, 3));
  const bits: number[] = [];
  while (bits.length < want) {
    const bit = randomInt(random, total);
    if (bits.includes(bit)) continue;
    bits.push(bit);
    copy[bit >> 3] = (copy[bit >> 3] as number) ^ (0x80 >> (bit & 7));
  }
  return { copy, bits: bits.sort((a, b) => a - b) };
}

export async function startChaosProxy(opts: ChaosOptions): Promise<ChaosProxy> {
  const p = {
    drop: rate('drop', opts.drop),
    corrupt: rate('corrupt', opts.corrupt),
    duplicate: rate('duplicate', opts.duplicate),
    reorder: rate('reorder', opts.reorder),
    delayMs: opts.delayMs ?? 0,
  };
  if (!(p.delayMs >= 0 && Number.isFinite(p.delayMs))) throw new RangeError(`--delay-ms must be 0 or more; got ${opts.delayMs}`);
  const seed = (opts.seed ?? Math.floor(Math.random() * 2 ** 32)) >>> 0;
  const random = seededRandom(seed);
  const maxSessions = opts.maxSessions ?? 1024;
  const listenHost = opts.listenHost ?? '127.0.0.1';
  const targetAddress = net.isIP(opts.targetHost) ? opts.targetHost : (await lookup(opts.targetHost)).address;
  const targetPort = opts.targetPort;
  const targetPorts = [targetPort, ...(opts.alsoTargetPorts ?? [])];
  let nextTarget = 0;
  const family = net.isIPv6(targetAddress) ? 'udp6' : 'udp4';
  const stats = { toServer: emptyStats(), toClient: emptyStats() };
  const held: Record<Direction, Held | null> = { toServer: null, toClient: null };
  const sessions = new Map<string, Session>();
  const timers = new Set<NodeJS.Timeout>();
  let inTransit = 0;
  let idleWaiters: Array<() => void> = [];
  let closed = false;

  const listen = dgram.createSocket(net.isIPv6(listenHost) ? 'udp6' : 'udp4');
  await new Promise<void>((resolve, reject) => {
    listen.once('error', reject);
    listen.bind(opts.listenPort ?? 0, listenHost, () => {
      listen.off('error', reject);
      resolve();
    });
  });
  listen.on('error', () => undefined); // e.g. ICMP from a client that went away: nothing to do
  const port = listen.address().port;

  const settle = () => {
    if (--inTransit === 0) {
      const w = idleWaiters;
      idleWaiters = [];
      for (const f of w) f();
    }
  };

  /** Runs `send` now, or after `ms`, keeping count of what is still in transit. */
  const later = (ms: number, send: () => void) => {
    inTransit++;
    const t = setTimeout(() => {
      timers.delete(t);
      if (!closed) send();
      settle();
    }, ms);
    timers.add(t);
  };

  const releaseHeld = (dir: Direction) => {
    const h = held[dir];
    if (h === null) return;
    held[dir] = null;
    clearTimeout(h.timer);
    timers.delete(h.timer);
    h.send();
    settle();
  };

  function forward(dir: Direction, buf: Buffer, client: string, send: (b: Buffer) => void): void {
    const s = stats[dir];
    s.received++;
    const actions: string[] = [];
    if (random() < p.drop) {
      s.dropped++;
      opts.onEvent?.({ direction: dir, client, size: buf.length, actions: ['drop'] });
      return;
    }
    const copies = [buf];
    if (random() < p.duplicate) {
      s.duplicated++;
      copies.push(buf);
      actions.push('duplicate');
    }
    for (const original of copies) {
      let copy = original;
      if (random() < p.corrupt) {
        const flipped = flipBits(original, random);
        copy = flipped.copy;
        s.corrupted++;
        actions.push(`corrupt(bits ${flipped.bits.join(',')})`);
      }
      const delay = p.delayMs > 0 ? random() * p.delayMs : 0;
      const reorder = random() < p.reorder;
      const out = () => {
        s.forwarded++;
        send(copy);
      };
      if (reorder) {
        s.reordered++;
        actions.push('reorder');
        releaseHeld(dir); // one held datagram per direction: an older one goes now
        inTransit++;
        const timer = setTimeout(() => releaseHeld(dir), REORDER_HOLD_MS + delay);
        held[dir] = { send: out, timer };
        timers.add(timer);
        continue;
      }
      const release = () => {
        out();
        releaseHeld(dir); // a held datagram goes out after the next one: they swap places
      };
      if (delay >= 0.5) {
        s.delayed++;
        actions.push(`delay ${Math.round(delay)}ms`);
        later(delay, release);
      } else {
        release();
      }
    }
    opts.onEvent?.({ direction: dir, client, size: buf.length, actions: actions.length ? actions : ['forward'] });
  }

  function session(address: string, clientPort: number): Session {
    const key = `${address}:${clientPort}`;
    let s = sessions.get(key);
    if (s !== undefined) {
      sessions.delete(key); // keep the map in least-recently-active order
      sessions.set(key, s);
      s.lastSeen = Date.now();
      return s;
    }
    if (sessions.size >= maxSessions) {
      const oldest = sessions.values().next();
      if (!oldest.done) dropSession(oldest.value);
    }
    const upstream = dgram.createSocket(family);
    upstream.on('error', () => undefined); // ICMP from a server that is down: the client's retries deal with it
    const created: Session = { key, address, port: clientPort, upstream, lastSeen: Date.now() };
    upstream.on('message', (msg, rinfo) => {
      if (!targetPorts.includes(rinfo.port) || closed) return;
      forward('toClient', msg, key, (b) => listen.send(b, clientPort, address));
    });
    sessions.set(key, created);
    return created;
  }

  function dropSession(s: Session): void {
    sessions.delete(s.key);
    s.upstream.close();
  }

  listen.on('message', (msg, rinfo) => {
    if (closed) return;
    const s = session(rinfo.address, rinfo.port);
    forward('toServer', msg, s.key, (b) => {
      const to = targetPorts[nextTarget++ % targetPorts.length] as number;
      if (sessions.get(s.key) === s) s.upstream.send(b, to, targetAddress);
    });
  });

  const sweeper = setInterval(() => {
    const cutoff = Date.now() - SESSION_IDLE_MS;
    for (const s of [...sessions.values()]) if (s.lastSeen < cutoff) dropSession(s);
  }, SESSION_IDLE_MS / 4);
  sweeper.unref();

  const copyStats = (d: DirectionStats): DirectionStats => ({ ...d });
  return {
    host: listenHost,
    port,
    target: `${opts.targetHost}:${targetPorts.join(',')}`,
    seed,
    stats: () => ({ toServer: copyStats(stats.toServer), toClient: copyStats(stats.toClient), sessions: sessions.size }),
    idle: () => (inTransit === 0 ? Promise.resolve() : new Promise<void>((resolve) => idleWaiters.push(resolve))),
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(sweeper);
      for (const t of timers) clearTimeout(t);
      timers.clear();
      held.toServer = held.toClient = null;
      inTransit = 0;
      for (const f of idleWaiters) f();
      idleWaiters = [];
      for (const s of [...sessions.values()]) dropSession(s);
      await new Promise<void>((resolve) => listen.close(() => resolve()));
    },
  };
}
