import type { HmacEngine } from '../../protocol/datagram-auth.js';
import dgram from 'node:dgram';
import dns from 'node:dns';
import { createRequire } from 'node:module';
import net from 'node:net';
import { getSystemErrorName } from 'node:util';
import type { UdpIoMode } from '../../config.js';
import { ConfigError } from '../../errors.js';
import { packagePath } from '../../package-root.js';

/** Where a datagram came from, and where its reply goes. */
export interface Peer {
  readonly address: string;
  readonly port: number;
}

export interface DatagramHandlers {
  /**
   * One datagram. `msg` is only valid until this call returns (the batched path
   * reuses its memory for the next batch): copy what must outlive it.
   * `wireSize` is the datagram's size on the wire; it is larger than
   * `msg.length` only when the datagram was larger than the receive slot
   * (--max-datagram-size), which makes it oversize.
   */
  datagram(msg: Buffer, peer: Peer, wireSize: number): void;
  /** A socket error (receive or send); the socket stays open. */
  error(err: NodeJS.ErrnoException): void;
}

/** The socket beneath the UDP front-end: node:dgram, or the batched native module. */
export interface DatagramIo {
  readonly kind: 'batched' | 'dgram';
  /** Binds and starts reading; resolves to the bound port. */
  listen(host: string, port: number): Promise<number>;
  /** Sends, or queues for the batch's single send; never throws for a closed socket. */
  send(buf: Buffer, peer: Peer): void;
  readonly port: number;
  close(): Promise<void>;
}

/** Asked of the kernel so a burst is queued rather than dropped; it may grant less. */
const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;

/**
 * Replies go to the address a datagram came from, always an IP literal. Node's
 * default lookup (dns.lookup) answers literals on the next tick; answering at once
 * saves a tick and a closure per reply. Names (only ever the bind host) still go
 * through dns.lookup.
 */
function lookupLiteral(host: string, options: dns.LookupOneOptions | number, cb: (err: NodeJS.ErrnoException | null, address: string, family: number) => void): void {
  const family = net.isIP(host);
  if (family !== 0) cb(null, host, family);
  else dns.lookup(host, typeof options === 'number' ? { family: options } : options, cb);
}

/** node:dgram: one read, one callback and one send per datagram. Works everywhere. */
class DgramIo implements DatagramIo {
  readonly kind = 'dgram';
  private socket: dgram.Socket | null = null;

  constructor(private readonly handlers: DatagramHandlers) {}

  listen(host: string, port: number): Promise<number> {
    const socket = dgram.createSocket({ type: net.isIPv6(host) ? 'udp6' : 'udp4', lookup: lookupLiteral });
    this.socket = socket;
    socket.on('message', (msg, rinfo) => this.handlers.datagram(msg, rinfo, msg.length));
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      socket.once('error', onError);
      socket.bind({ port, address: host }, () => {
        socket.off('error', onError);
        socket.on('error', (err) => this.handlers.error(err));
        for (const set of [() => socket.setRecvBufferSize(SOCKET_BUFFER_BYTES), () => socket.setSendBufferSize(SOCKET_BUFFER_BYTES)]) {
          try {
            set();
          } catch {
            // The kernel's cap (net.core.rmem_max) applies; the default buffer still works.
          }
        }
        resolve(socket.address().port);
      });
    });
  }

  send(buf: Buffer, peer: Peer): void {
    try {
      this.socket?.send(buf, peer.port, peer.address);
    } catch (err) {
      // The socket closed under a late reply (shutdown timeout passed).
      this.handlers.error(err as NodeJS.ErrnoException);
    }
  }

  get port(): number {
    try {
      return this.socket?.address().port ?? 0;
    } catch {
      return 0;
    }
  }

  async close(): Promise<void> {
    const socket = this.socket;
    this.socket = null;
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
}

/** native/udp_batch.c, as built by `npm ci` (native/build.mjs, beside it). */
interface UdpBatchModule {
  readonly ADDR_RECORD: number;
  open(
    family: 4 | 6,
    address: string,
    port: number,
    rcvbuf: number,
    sndbuf: number,
    batch: number,
    slot: number,
    inData: Buffer,
    inLen: Int32Array,
    inAddr: Buffer,
    outData: Buffer,
    outMeta: Int32Array,
    outAddr: Buffer,
    onBatch: (n: number) => void,
  ): object;
  flush(handle: object, n: number): number;
  lastErrno(handle: object): string;
  localPort(handle: object): number;
  addressString(record: Buffer): string;
  close(handle: object): void;
  hmacKey(key: Uint8Array): Buffer;
  hmacSha256(prepared: Buffer, data: Uint8Array, length: number, out: Buffer, outOffset: number, outLength: number): void;
  hmacVerify(prepared: Buffer, data: Uint8Array, length: number, macAt: number): boolean;
  hmacSign(prepared: Buffer, data: Uint8Array, length: number, macAt: number): void;
}

let loaded: { module: UdpBatchModule | null; why: string } | null = null;

/** The native module, or null with the reason it is missing. Loaded once. */
export function loadUdpBatch(): { module: UdpBatchModule | null; why: string } {
  if (loaded !== null) return loaded;
  if (process.platform !== 'linux') {
    loaded = { module: null, why: `recvmmsg/sendmmsg batching is Linux-only (this is ${process.platform})` };
    return loaded;
  }
  const require = createRequire(import.meta.url);
  // node-gyp builds into src/frontends/udp/native/build/ in the package.
  const path = packagePath('src', 'frontends', 'udp', 'native', 'build', 'Release', 'udp_batch.node');
  try {
    loaded = { module: require(path) as UdpBatchModule, why: '' };
  } catch (err) {
    loaded = { module: null, why: `${path} did not load (${(err as Error).message.split('\n')[0]}); run \`npm rebuild\` with python3, make and g++ installed` };
  }
  return loaded;
}

/** The native HMAC-SHA256 for authenticated datagrams (src/protocol/datagram-auth.ts), or null without the module. */
export function nativeHmacEngine(): HmacEngine | null {
  const m = loadUdpBatch().module;
  // A module built before hmacVerify/hmacSign: node:crypto, until `npm rebuild`.
  return m !== null && typeof m.hmacVerify === 'function' && typeof m.hmacSign === 'function' ? m : null;
}

/** Datagrams read per recvmmsg call, and replies sent per sendmmsg call. */
const BATCH = 64;
/** Peers remembered (address string and reply address); past this many, the map starts afresh. */
const MAX_PEERS = 4096;

interface BatchPeer extends Peer {
  /** The 20-byte address record native/udp_batch.c sends to. */
  readonly record: Buffer;
}

/**
 * recvmmsg/sendmmsg through native/udp_batch.c: one system call and one entry
 * into JS per batch of datagrams, and one system call for the batch's replies,
 * made on the module's sender thread.
 * Replies made while a batch runs go out together when it ends; replies made
 * later (a PUT waiting for fsync) go out at the end of the current microtask
 * checkpoint, together with any others made in it.
 */
class BatchedIo implements DatagramIo {
  readonly kind = 'batched';
  private handle: object | null = null;
  private readonly record: number;
  private readonly inData: Buffer;
  private readonly inLen = new Int32Array(BATCH);
  private readonly inAddr: Buffer;
  private readonly outData: Buffer;
  private readonly outMeta = new Int32Array(2 * BATCH);
  private readonly outAddr: Buffer;
  private outCount = 0;
  private outBytes = 0;
  private inBatch = false;
  private flushQueued = false;
  private readonly peers4 = new Map<number, BatchPeer>();
  private readonly peers6 = new Map<string, BatchPeer>();
  private boundPort = 0;

  constructor(
    private readonly native: UdpBatchModule,
    private readonly slot: number,
    private readonly handlers: DatagramHandlers,
  ) {
    this.record = native.ADDR_RECORD;
    this.inData = Buffer.alloc(BATCH * slot);
    this.inAddr = Buffer.alloc(BATCH * this.record);
    this.outData = Buffer.alloc(BATCH * slot);
    this.outAddr = Buffer.alloc(BATCH * this.record);
  }

  async listen(host: string, port: number): Promise<number> {
    // A name binds its IPv4 address, as node:dgram's udp4 socket does.
    const family = net.isIP(host) === 6 ? 6 : 4;
    const address = net.isIP(host) !== 0 ? host : (await dns.promises.lookup(host, { family: 4 })).address;
    try {
      this.handle = this.open(family, address, port);
    } catch (err) {
      // Worded as node:dgram words it: "bind EADDRINUSE 127.0.0.1:7379".
      const e = err as NodeJS.ErrnoException;
      const wrapped: NodeJS.ErrnoException = new Error(`bind ${e.code ?? 'failed'} ${family === 6 ? `[${address}]` : address}:${port} (${e.message})`, { cause: err });
      wrapped.code = e.code;
      throw wrapped;
    }
    this.boundPort = this.native.localPort(this.handle);
    return this.boundPort;
  }

  private open(family: 4 | 6, address: string, port: number): object {
    return this.native.open(
      family,
      address,
      port,
      SOCKET_BUFFER_BYTES,
      SOCKET_BUFFER_BYTES,
      BATCH,
      this.slot,
      this.inData,
      this.inLen,
      this.inAddr,
      this.outData,
      this.outMeta,
      this.outAddr,
      (n) => this.onBatch(n),
    );
  }

  private onBatch(n: number): void {
    if (n < 0) {
      const err: NodeJS.ErrnoException = new Error(`UDP receive failed: ${getSystemErrorName(n)}`);
      err.errno = n;
      err.code = getSystemErrorName(n);
      this.handlers.error(err);
      return;
    }
    this.inBatch = true;
    try {
      const { slot, record } = this;
      for (let i = 0; i < n; i++) {
        const size = this.inLen[i] as number;
        const start = i * slot;
        try {
          this.handlers.datagram(this.inData.subarray(start, start + Math.min(size, slot)), this.peer(i * record), size);
        } catch (err) {
          // The handler guards each request itself; should that fail, it costs this datagram, not the batch.
          this.handlers.error(err as NodeJS.ErrnoException);
        }
      }
    } finally {
      this.inBatch = false;
      if (this.outCount > 0) this.flush();
    }
  }

  /** The sender of the datagram whose address record starts at `at`; cached, so the common case builds no string. */
  private peer(at: number): BatchPeer {
    const a = this.inAddr;
    const port = a.readUInt16BE(at + 2);
    // IPv4: address and port as one number; IPv6: the record's bytes as a string.
    return a[at] === 4
      ? this.cachedPeer(this.peers4, a.readUInt32BE(at + 4) * 65536 + port, at, port)
      : this.cachedPeer(this.peers6, a.toString('latin1', at + 2, at + this.record), at, port);
  }

  private cachedPeer<K>(peers: Map<K, BatchPeer>, key: K, at: number, port: number): BatchPeer {
    let p = peers.get(key);
    if (p === undefined) {
      if (peers.size >= MAX_PEERS) peers.clear();
      const record = Buffer.from(this.inAddr.subarray(at, at + this.record));
      p = { address: this.native.addressString(record), port, record };
      peers.set(key, p);
    }
    return p;
  }

  send(buf: Buffer, peer: Peer): void {
    if (this.handle === null) return;
    if (buf.length > this.slot) {
      // Never so: replies are cut to --max-datagram-size before they get here.
      this.handlers.error(new Error(`a ${buf.length}-byte reply is over --max-datagram-size ${this.slot}; not sent`));
      return;
    }
    const record = (peer as BatchPeer).record;
    if (this.outCount === BATCH || this.outBytes + buf.length > this.outData.length) this.flush();
    const i = this.outCount++;
    buf.copy(this.outData, this.outBytes);
    this.outMeta[2 * i] = this.outBytes;
    this.outMeta[2 * i + 1] = buf.length;
    record.copy(this.outAddr, i * this.record);
    this.outBytes += buf.length;
    if (!this.inBatch && !this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(() => {
        this.flushQueued = false;
        this.flush();
      });
    }
  }

  private flush(): void {
    const n = this.outCount;
    this.outCount = 0;
    this.outBytes = 0;
    if (n === 0 || this.handle === null) return;
    const failed = this.native.flush(this.handle, n);
    if (failed > 0) {
      const err: NodeJS.ErrnoException = new Error(`${failed} of ${n} UDP replies not sent: ${this.native.lastErrno(this.handle)}`);
      err.code = this.native.lastErrno(this.handle).split(':')[0];
      this.handlers.error(err);
    }
  }

  get port(): number {
    return this.handle === null ? 0 : this.boundPort;
  }

  async close(): Promise<void> {
    const handle = this.handle;
    if (handle === null) return;
    this.flush();
    this.handle = null;
    this.native.close(handle);
    // The descriptor is released on the next turn of the event loop.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/**
 * The socket for --udp-io: `batched` needs native/udp_batch.c (Linux, built at
 * install) and refuses to start without it; `auto` uses it when it is there and
 * says why when it is not; `dgram` is node:dgram.
 */
export function createDatagramIo(mode: UdpIoMode, host: string, maxDatagramSize: number, handlers: DatagramHandlers): { io: DatagramIo; fallbackReason: string | null } {
  if (mode === 'dgram') return { io: new DgramIo(handlers), fallbackReason: null };
  const { module, why } = host.includes('%')
    ? { module: null, why: `the scoped IPv6 address ${host} is bound with node:dgram (the batched socket takes plain addresses)` }
    : loadUdpBatch();
  if (module !== null) return { io: new BatchedIo(module, maxDatagramSize, handlers), fallbackReason: null };
  if (mode === 'batched') throw new ConfigError(`--udp-io batched: ${why}`);
  return { io: new DgramIo(handlers), fallbackReason: why };
}
