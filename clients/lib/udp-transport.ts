import { randomBytes } from 'node:crypto';
import type dgram from 'node:dgram';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { KvError } from '../../src/errors.js';
import {
  datagramSize,
  decodeReply,
  encodeRequest,
  isRefusedStatus,
  MAX_UDP_PAYLOAD,
  Opcode,
  OPCODE_NAMES,
  Status,
  STATUS_NAMES,
  type Bytes,
  type Extension,
} from '../../src/protocol/datagram.js';
import { DatagramError } from '../../src/protocol/datagram-error.js';
import { encodeSignedRequest, macKey, replySigned, useHmacEngine, type SigningKey } from '../../src/protocol/datagram-auth.js';
import { nativeHmacEngine } from '../../src/frontends/udp/udp-io.js';
import {
  atLeast,
  DEFAULT_HOST,
  DEFAULT_MAX_DATAGRAM_SIZE,
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_PORT,
  DEFAULT_RETRY,
  positive,
  whole,
  type UdpClientEvent,
  type UdpClientOptions,
  type UdpResult,
} from './udp-client-options.js';
import { TimeoutError } from './udp-errors.js';
import type { ServerPool } from './udp-server-pool.js';
import { formatAddress } from './server-list.js';

interface Pending {
  id: number;
  /** The pool's index of the server the next send goes to. */
  server: number;
  readonly opcode: Opcode;
  datagram: Buffer;
  readonly key: Bytes | undefined;
  readonly value: Bytes | undefined;
  readonly extensions: readonly Extension[] | undefined;
  attempts: number;
  /** The sequence numbers its signed attempts used (docs/PROTOCOL.md "Authenticated datagrams"); 0n unsigned. */
  firstSeq: bigint;
  lastSeq: bigint;
  readonly startedAt: number;
  /** The wait before the next retry, in ms. */
  waitMs: number;
  timer: NodeJS.Timeout | null;
  lastRefusal: string | undefined;
  readonly resolve: (r: UdpResult) => void;
  readonly reject: (err: Error) => void;
}

const EMPTY = Buffer.alloc(0);

/** The opcodes whose commands write, and so whose retries the server's reply cache answers. */
const WRITES: ReadonlySet<Opcode> = new Set([Opcode.PUT, Opcode.DEL, Opcode.EXPIRE]);

/**
 * The request machinery of UdpClient (udp-client.ts, whose comment says what it
 * guarantees): IDs, sequence numbers, retries with backoff, the servers a request
 * goes to, and matching replies to the requests in flight.
 */
export class UdpTransport {
  readonly host: string;
  readonly port: number;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffFactor: number;
  private readonly randomFactor: number;
  private readonly maxTimeoutMs: number;
  readonly maxDatagramSize: number;
  private readonly maxInFlight: number;
  private readonly random: () => number;
  private readonly onEvent: ((e: UdpClientEvent) => void) | undefined;
  private readonly inFlight = new Map<number, Pending>();
  /** Requests beyond maxInFlight, in order; `waitingHead` is the next to go (no O(n) shift). */
  private waiting: Array<Pending | undefined> = [];
  private waitingHead = 0;
  private nextId: number;
  private issued = 0;
  private unreachable = false;
  private readonly failOnUnreachable: boolean;
  private closed = false;
  private readonly signing: SigningKey | null;
  /** Names this client's sequence numbers to the server: its replay window is per key and sender. */
  private readonly sender: number;
  private nextSeq = 1n;

  protected constructor(
    private readonly socket: dgram.Socket,
    opts: UdpClientOptions,
    private readonly pool: ServerPool,
    /** With several servers: their resolved addresses, which a reply must come from. Null: one server, on a connected socket. */
    private readonly targets: ReadonlyArray<{ readonly address: string; readonly port: number }> | null,
  ) {
    this.host = opts.host ?? DEFAULT_HOST;
    this.port = opts.port ?? DEFAULT_PORT;
    this.timeoutMs = positive('timeoutMs', opts.timeoutMs ?? DEFAULT_RETRY.timeoutMs);
    this.retries = whole('retries', opts.retries ?? DEFAULT_RETRY.retries);
    this.backoffFactor = atLeast('backoffFactor', opts.backoffFactor ?? DEFAULT_RETRY.backoffFactor, 1);
    this.randomFactor = atLeast('randomFactor', opts.randomFactor ?? DEFAULT_RETRY.randomFactor, 1);
    this.maxTimeoutMs = positive('maxTimeoutMs', opts.maxTimeoutMs ?? DEFAULT_RETRY.maxTimeoutMs);
    this.maxDatagramSize = whole('maxDatagramSize', opts.maxDatagramSize ?? DEFAULT_MAX_DATAGRAM_SIZE);
    this.maxInFlight = positive('maxInFlight', opts.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT);
    this.random = opts.random ?? Math.random;
    this.onEvent = opts.onEvent;
    this.failOnUnreachable = opts.failOnUnreachable ?? false;
    this.nextId = (opts.initialId ?? randomBytes(4).readUInt32BE(0)) >>> 0;
    if (opts.udpKey !== undefined) useHmacEngine(nativeHmacEngine());
    this.signing = opts.udpKey === undefined ? null : { id: opts.udpKey.id, key: macKey(opts.udpKey.key) };
    this.sender = randomBytes(4).readUInt32BE(0);
    socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // On a connected socket, ICMP port unreachable comes back as ECONNREFUSED.
      // It is only a hint (the server may be restarting): the retries go on.
      if (err.code === 'ECONNREFUSED') {
        this.unreachable = true;
        this.onEvent?.({ type: 'unreachable' });
        if (this.failOnUnreachable) this.failAll(new KvError('CONNECTION', `nothing is listening on ${this.address} (the OS reported ICMP port unreachable); is the server running, and is this its UDP port?`));
      }
    });
  }

  /** The server, or with several every one, as `udp://host:port`. */
  get address(): string {
    if (this.targets === null) return `udp://${net.isIPv6(this.host) ? `[${this.host}]` : this.host}:${this.port}`;
    return this.pool.servers.map((s) => `udp://${formatAddress(s)}`).join(', ');
  }

  /** The local port this client sends from (the server's reply cache is per address and port). */
  get localPort(): number {
    return this.socket.address().port;
  }

  /** The longest a request can take before it fails with TimeoutError, in ms. */
  get maxSpanMs(): number {
    let wait = this.timeoutMs * this.randomFactor;
    let total = 0;
    for (let i = 0; i <= this.retries; i++) {
      total += Math.min(wait, this.maxTimeoutMs);
      wait *= this.backoffFactor;
    }
    return total;
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /**
   * Sends one request and resolves with the reply, whatever its status, once one
   * arrives; rejects with TimeoutError when every attempt went unanswered. The
   * low-level call behind get/put/del, for load generators and tests.
   */
  request(opcode: Opcode, key?: Bytes, value?: Bytes, extensions?: readonly Extension[]): Promise<UdpResult> {
    if (this.closed) return Promise.reject(new KvError('CONNECTION', `the UDP client for ${this.address} is closed`));
    const size = datagramSize({ key, value, extensions });
    if (size > this.maxDatagramSize) {
      return Promise.reject(
        new KvError(
          'DATAGRAM_TOO_LARGE',
          `a ${OPCODE_NAMES[opcode]} of ${size} bytes does not fit in one datagram (max ${this.maxDatagramSize}); use TCP (kv-tcp) for large values`,
        ),
      );
    }
    return new Promise<UdpResult>((resolve, reject) => {
      const p: Pending = {
        id: 0,
        server: this.pool.first(),
        opcode,
        datagram: EMPTY,
        key,
        value,
        extensions,
        attempts: 0,
        firstSeq: 0n,
        lastSeq: 0n,
        startedAt: performance.now(),
        waitMs: this.timeoutMs * (1 + this.random() * (this.randomFactor - 1)),
        timer: null,
        lastRefusal: undefined,
        resolve,
        reject,
      };
      if (this.inFlight.size < this.maxInFlight) this.start(p);
      else this.waiting.push(p);
    });
  }

  private start(p: Pending, reason?: 'new-id'): void {
    p.id = this.takeId();
    p.datagram = this.encode(p);
    this.inFlight.set(p.id, p);
    this.transmit(p, reason);
  }

  /** The request's datagram; signed with the next sequence number when the client has a key. */
  private encode(p: Pending): Buffer {
    const fields = { opcode: p.opcode, id: p.id, key: p.key, value: p.value, extensions: p.extensions };
    if (this.signing === null) return encodeRequest(fields);
    const sequence = this.nextSeq++;
    if (p.firstSeq === 0n) p.firstSeq = sequence;
    p.lastSeq = sequence;
    return encodeSignedRequest(fields, { sender: this.sender, timestamp: Date.now(), sequence }, this.signing);
  }

  /** The next ID not in flight. At most inFlight.size + 1 tries. */
  private takeId(): number {
    for (;;) {
      const id = this.nextId;
      this.nextId = (this.nextId + 1) >>> 0;
      this.issued++;
      if (!this.inFlight.has(id)) return id;
    }
  }

  private transmit(p: Pending, reason?: 'timeout' | 'refused' | 'new-id'): void {
    // docs/PROTOCOL.md "Authenticated datagrams": the server refuses a sequence number
    // twice, and only a write's retry is answered from the reply cache; so a write is
    // resent byte for byte, and a read (which is not cached) is signed afresh.
    if (this.signing !== null && (reason === 'timeout' || reason === 'refused') && !WRITES.has(p.opcode)) p.datagram = this.encode(p);
    p.attempts++;
    const wait = Math.min(p.waitMs, this.maxTimeoutMs);
    const server = this.targets === null ? undefined : this.pool.name(p.server);
    this.onEvent?.({ type: 'send', id: p.id, op: OPCODE_NAMES[p.opcode] as string, attempt: p.attempts, waitMs: Math.round(wait), reason, server });
    const target = this.targets?.[p.server];
    if (target === undefined) this.socket.send(p.datagram);
    else this.socket.send(p.datagram, target.port, target.address);
    p.timer = setTimeout(() => this.onTimeout(p), wait);
    p.waitMs = wait * this.backoffFactor;
  }

  private onTimeout(p: Pending): void {
    p.timer = null;
    // README "kv-udp", several servers: the retry keeps its ID and bytes, and goes to the next server.
    p.server = this.pool.afterTimeout(p.server);
    if (p.attempts > this.retries) {
      this.finish(p);
      const elapsed = performance.now() - p.startedAt;
      const hint = this.unreachable
        ? 'nothing is listening on that port (the OS reported ICMP port unreachable)'
        : 'is the server running, and is this its UDP port?';
      p.reject(
        new TimeoutError(
          `no reply from ${this.address} to ${OPCODE_NAMES[p.opcode]} after ${p.attempts} attempts over ${Math.round(elapsed)} ms; ${hint}`,
          p.attempts,
          elapsed,
          this.unreachable,
          p.lastRefusal,
        ),
      );
      return;
    }
    this.transmit(p, 'timeout');
  }

  private onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    let from: number | undefined;
    if (this.targets !== null) {
      from = this.targets.findIndex((t) => t.port === rinfo.port && t.address === rinfo.address);
      if (from < 0) {
        this.onEvent?.({ type: 'bad-reply', reason: 'stranger', message: `from ${rinfo.address}:${rinfo.port}, which is not one of the servers`, size: msg.length });
        return;
      }
    }
    let reply;
    try {
      reply = decodeReply(msg, MAX_UDP_PAYLOAD);
    } catch (err) {
      if (!(err instanceof DatagramError)) throw err;
      this.onEvent?.({ type: 'bad-reply', reason: err.reason, message: err.message, size: msg.length });
      return;
    }
    const p = this.inFlight.get(reply.id);
    if (p === undefined || (reply.opcode !== p.opcode && !isRefusedStatus(reply.status))) {
      const back = (this.nextId - reply.id) >>> 0;
      this.onEvent?.({ type: 'unknown-reply', id: reply.id, late: p === undefined && back > 0 && back <= this.issued });
      return;
    }
    // A refusal (0x1_) may come unsigned: it says nothing ran, which a forger gains nothing by saying. Anything else must be signed.
    if (this.signing !== null && (reply.details.auth !== null || !isRefusedStatus(reply.status)) && !replySigned(msg, reply.details.auth, this.signing, p.firstSeq, p.lastSeq)) {
      this.onEvent?.({ type: 'bad-reply', reason: 'bad_mac', message: 'the reply is not signed with this client\'s UDP key', size: msg.length });
      return;
    }
    if (reply.status === Status.BAD_CHECKSUM || reply.status === Status.ID_CONFLICT) {
      // Refused before anything ran: nothing was applied, so resending is safe.
      // BAD_CHECKSUM: our datagram was damaged on the way; resend the same bytes now.
      // ID_CONFLICT: the server remembers this ID for another request; take a new ID.
      const name = STATUS_NAMES[reply.status] as string;
      p.lastRefusal = name;
      this.onEvent?.({ type: 'refused', id: p.id, status: name, message: reply.value.toString('utf8') });
      if (p.attempts > this.retries) return; // the running timer ends it
      if (p.timer) clearTimeout(p.timer);
      if (reply.status === Status.ID_CONFLICT) {
        this.inFlight.delete(p.id);
        this.start(p, 'new-id');
        return;
      }
      this.transmit(p, 'refused');
      return;
    }
    this.finish(p);
    const elapsedMs = performance.now() - p.startedAt;
    const server = from === undefined ? undefined : this.pool.name(from);
    this.onEvent?.({ type: 'reply', id: p.id, status: STATUS_NAMES[reply.status] ?? `0x${reply.status.toString(16)}`, attempts: p.attempts, elapsedMs, server });
    p.resolve({ id: p.id, status: reply.status, value: reply.value, details: reply.details, attempts: p.attempts, elapsedMs, ...(server === undefined ? {} : { server }) });
  }

  /** Takes a request off the wire and lets a waiting one on. */
  private finish(p: Pending): void {
    if (p.timer) clearTimeout(p.timer);
    p.timer = null;
    this.inFlight.delete(p.id);
    if (this.waitingHead < this.waiting.length) {
      const next = this.waiting[this.waitingHead] as Pending;
      this.waiting[this.waitingHead++] = undefined; // let it be collected
      if (this.waitingHead === this.waiting.length) {
        this.waiting = [];
        this.waitingHead = 0;
      } else if (this.waitingHead >= 1024 && this.waitingHead * 2 >= this.waiting.length) {
        this.waiting = this.waiting.slice(this.waitingHead);
        this.waitingHead = 0;
      }
      this.start(next);
    }
  }

  private failAll(err: KvError): void {
    const all = [...this.inFlight.values(), ...(this.waiting.slice(this.waitingHead) as Pending[])];
    this.inFlight.clear();
    this.waiting = [];
    this.waitingHead = 0;
    for (const p of all) {
      if (p.timer) clearTimeout(p.timer);
      p.timer = null;
      p.reject(err);
    }
  }

  /** Fails everything in flight or waiting with CONNECTION, and closes the socket. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.failAll(new KvError('CONNECTION', `the UDP client for ${this.address} was closed with the request in flight`));
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }
}
