import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { executeCommand } from '../../commands/execute.js';
import type { CommandContext, Dialect, Session } from '../../commands/types.js';
import { KvError, ProtocolError } from '../../errors.js';
import { createOpLog, type OpLog } from '../../op-log.js';
import { errorReply, type Reply } from '../../protocol/reply.js';
import { ReplyWriter } from '../../protocol/reply-writer.js';
import { encodeRespReply, RespDecoder } from '../../protocol/resp.js';
import { ARG_OVERHEAD_BYTES, type CommandSink, type DecoderLimits } from '../../protocol/sink.js';
import { encodeTextReply, TextLineDecoder } from '../../protocol/text.js';
import type { ByteString } from '../../store/bytes.js';

/**
 * Where flush() assembles replies that waited in the queue. flush() runs to the end
 * without yielding and take() copies the bytes out, so one writer serves every
 * connection (a fresh 16 KiB buffer per flush was a measurable share of GC time
 * under --fsync always).
 */
const SCRATCH = new ReplyWriter();

/**
 * Reads stop while more than this many reply bytes are owed to the client (written to
 * the socket but not yet taken by the kernel, or waiting in the queue), and commands
 * already read wait in the backlog: a client that reads slowly is slowed down instead
 * of piling up replies until --max-output-buffer cuts it off.
 */
export const OUTPUT_PAUSE_BYTES = 1024 * 1024;

/** A reply waiting for durability, kept in order with the replies around it. */
interface Pending {
  reply: Reply | null;
  bytes: Buffer | null;
  /** About how many bytes it will encode to, counted against --max-output-buffer while queued. */
  size: number;
}

/** A request read but not yet run, because the client's replies are not being read. */
type Deferred = { readonly args: ByteString[] } | { readonly err: KvError };
/** What a run backlog slot is left holding, so that its arguments can be collected. */
const DONE: Deferred = { args: [] };

/** A reply's encoded size, near enough for the output-buffer limit. */
function sizeHint(r: Reply): number {
  return r.t === 'bulk' ? r.v.length + 16 : r.t === 'array' ? r.items.reduce((n, it) => n + sizeHint(it), 16) : 32;
}

function argsSize(args: readonly ByteString[]): number {
  let n = 0;
  for (const a of args) n += a.length + ARG_OVERHEAD_BYTES;
  return n;
}

/** What a connection tells its front-end: how much memory it holds, and that it went away. */
export interface ConnectionOwner {
  /** Called after the connection's buffers change size (the global client-memory cap). */
  memoryChanged(conn: TcpConnection): void;
}

export interface ConnectionLimits extends DecoderLimits {
  /** Unread reply bytes before the client is disconnected (--max-output-buffer). */
  readonly maxOutputBuffer: number;
}

/**
 * One TCP client. The dialect is chosen from the first byte (`*`: RESP2,
 * anything else: text). Commands decoded from one read run in order, and their
 * replies leave in one write. A reply that must wait for the log (--fsync always)
 * holds back the replies after it, so replies always leave in request order.
 * While the client owes more than OUTPUT_PAUSE_BYTES of replies, reading stops and
 * requests already read wait in a backlog, so every reply still leaves in order.
 */
export class TcpConnection implements CommandSink, Session {
  readonly transport = 'tcp' as const;
  dialect: Dialect = 'text';
  closing = false;
  name = '';
  readonly opLog: OpLog | null;
  private decoder: RespDecoder | TextLineDecoder | null = null;
  private encode: (w: ReplyWriter, r: Reply) => void = encodeTextReply;
  private readonly writer = new ReplyWriter();
  private readonly queue: Pending[] = [];
  private readonly backlog: Deferred[] = [];
  /** Index of the backlog's first entry still to run. */
  private backlogHead = 0;
  private backlogBytes = 0;
  private readPaused = false;
  /** The decoder threw: nothing more is read from this client. */
  private failed = false;
  private dead = false;
  private shuttingDown = false;
  private drainWaiters: Array<() => void> = [];
  /** Bytes of the replies waiting in `queue`. */
  private queuedBytes = 0;
  private readonly pauseBytes: number;
  /** The memory this connection last reported to its owner. */
  reportedMemory = 0;

  constructor(
    readonly id: number,
    readonly client: string,
    private readonly socket: Socket,
    private readonly ctx: CommandContext,
    private readonly log: Logger,
    logOps: boolean,
    private readonly limits: ConnectionLimits,
    private readonly owner: ConnectionOwner,
  ) {
    this.opLog = logOps ? createOpLog(log) : null;
    this.pauseBytes = Math.min(OUTPUT_PAUSE_BYTES, Math.floor(limits.maxOutputBuffer / 2));
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.onDrain());
  }

  /** Query bytes (an unfinished request, requests waiting in the backlog) plus reply bytes owed. */
  get memory(): number {
    return (this.decoder?.pendingBytes ?? 0) + this.backlogBytes + this.outputBytes;
  }

  /** Reply bytes owed: in the socket's buffer, encoded and not yet written, or queued for durability. */
  get outputBytes(): number {
    return this.socket.writableLength + this.writer.length + this.queuedBytes;
  }

  private onData(chunk: Buffer): void {
    if (this.dead || this.failed) return;
    this.ctx.stats.bytesIn += chunk.length;
    if (this.decoder === null) this.chooseDialect(chunk);
    try {
      (this.decoder as RespDecoder | TextLineDecoder).feed(chunk);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this.ctx.stats.protocolErrors++;
      if (err.code === 'QUERY_BUFFER_LIMIT') this.ctx.stats.queryBufferDisconnects++;
      this.log.warn(
        { err: { code: err.code, message: err.message } },
        err.code === 'QUERY_BUFFER_LIMIT' ? 'client query buffer limit reached; closing the connection' : 'protocol error; closing the connection',
      );
      this.failed = true;
      // Its error reply goes after the replies to everything read before it.
      if (this.backlogHead < this.backlog.length) this.defer({ err });
      else this.failWith(err);
    }
    this.pump();
    this.owner.memoryChanged(this);
  }

  private chooseDialect(first: Buffer): void {
    if (first[0] === 0x2a /* * */) {
      this.dialect = 'resp';
      this.encode = encodeRespReply;
      this.decoder = new RespDecoder(this, this.limits);
    } else {
      this.dialect = 'text';
      this.encode = encodeTextReply;
      this.decoder = new TextLineDecoder(this, this.limits);
    }
    this.log.debug({ dialect: this.dialect }, 'dialect chosen');
  }

  command(args: ByteString[]): boolean {
    if (this.closing || this.dead) return false;
    if (this.backlogHead < this.backlog.length || this.outputBytes > this.pauseBytes) {
      this.defer({ args });
      return true;
    }
    this.push(executeCommand(this.ctx, this, args));
    return !this.closing && !this.dead;
  }

  reject(err: KvError): boolean {
    if (this.closing || this.dead) return false;
    if (this.backlogHead < this.backlog.length || this.outputBytes > this.pauseBytes) {
      this.defer({ err });
      return true;
    }
    this.refuse(err);
    return !this.dead;
  }

  private refuse(err: KvError): void {
    this.log.warn({ err: { code: err.code, message: err.message } }, 'request rejected');
    this.ctx.stats.countCommand('rejected', true, 0);
    this.push(errorReply(err));
  }

  /** A connection-level error: its reply is the last one, then the connection closes. */
  private failWith(err: KvError): void {
    this.push(errorReply(err));
    this.closing = true;
  }

  private defer(d: Deferred): void {
    this.backlog.push(d);
    this.backlogBytes += 'args' in d ? argsSize(d.args) : 64;
  }

  private onDrain(): void {
    if (this.dead) return;
    this.pump();
    this.owner.memoryChanged(this);
  }

  /**
   * Runs the requests waiting in the backlog and writes their replies, for as long as
   * the client owes no more than the pause mark, then reads again or stops reading.
   * The loop goes on while the kernel takes every byte written at once (loopback often
   * does): then no 'drain' would come to carry on.
   */
  private pump(): void {
    for (;;) {
      this.runBacklog();
      this.flush();
      if (this.dead || this.backlogHead === this.backlog.length || this.outputBytes > this.pauseBytes) break;
    }
    this.updateReading();
  }

  private runBacklog(): void {
    while (this.backlogHead < this.backlog.length && this.outputBytes <= this.pauseBytes && !this.dead) {
      const d = this.backlog[this.backlogHead] as Deferred;
      this.backlog[this.backlogHead++] = DONE; // let the arguments go
      this.backlogBytes -= 'args' in d ? argsSize(d.args) : 64;
      // After a QUIT that ran from here, what was read behind it is dropped, as the decoder would have.
      if (this.closing) continue;
      if ('args' in d) this.push(executeCommand(this.ctx, this, d.args));
      else if (d.err instanceof ProtocolError) this.failWith(d.err);
      else this.refuse(d.err);
    }
    if (this.backlogHead === this.backlog.length) {
      this.backlog.length = 0;
      this.backlogHead = 0;
      this.backlogBytes = 0;
    }
  }

  /** Reads while nothing waits and the client takes its replies; stops reading otherwise. */
  private updateReading(): void {
    if (this.dead) return;
    const hold = this.shuttingDown || this.backlogHead < this.backlog.length || this.outputBytes > this.pauseBytes;
    if (hold === this.readPaused) return;
    this.readPaused = hold;
    if (hold) {
      this.socket.pause();
      if (!this.shuttingDown) {
        this.log.debug({ owedBytes: this.outputBytes, waiting: this.backlog.length - this.backlogHead }, 'reading paused: the client is not taking its replies');
      }
    } else {
      this.socket.resume();
      this.log.debug('reading resumed');
    }
  }

  private push(reply: Reply | Promise<Reply>): void {
    if (!(reply instanceof Promise)) {
      if (this.queue.length === 0) {
        this.encode(this.writer, reply);
        this.checkOutputLimit();
      } else {
        this.enqueue({ reply, bytes: null, size: sizeHint(reply) });
      }
      return;
    }
    // Sync replies already encoded go ahead of this one; the writer is empty while the queue is not.
    if (this.writer.length > 0) {
      const bytes = this.writer.take();
      this.enqueue({ reply: null, bytes, size: bytes.length });
    }
    const p: Pending = { reply: null, bytes: null, size: 0 };
    this.queue.push(p);
    reply.then(
      (r) => this.settle(p, r),
      (err: unknown) =>
        this.settle(p, errorReply(err instanceof KvError ? err : new KvError('SERVER', 'write failed; see the server log', { cause: err }))),
    );
  }

  private enqueue(p: Pending): void {
    this.queue.push(p);
    this.queuedBytes += p.size;
    this.checkOutputLimit();
  }

  private settle(p: Pending, r: Reply): void {
    p.reply = r;
    p.size = sizeHint(r);
    this.queuedBytes += p.size;
    // Replies that waited for the disk leave now, and may take the output under the pause mark.
    this.pump();
    this.owner.memoryChanged(this);
  }

  /** Writes every reply that is ready, in order, in as few writes as possible. */
  private flush(): void {
    if (this.dead) return;
    if (this.queue.length > 0) {
      const out = SCRATCH;
      while (this.queue.length > 0) {
        const head = this.queue[0] as Pending;
        if (head.bytes) out.raw(head.bytes);
        else if (head.reply) this.encode(out, head.reply);
        else break; // still waiting for durability: the replies after it wait too
        this.queuedBytes -= head.size;
        this.queue.shift();
      }
      this.send(out.take());
      if (this.queue.length > 0) return;
    }
    if (this.writer.length > 0) this.send(this.writer.take());
    if (this.backlogHead < this.backlog.length) return; // read but not yet run: the connection stays
    if (this.closing) this.end();
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  private send(buf: Buffer): void {
    if (buf.length === 0) return;
    this.ctx.stats.bytesOut += buf.length;
    this.socket.write(buf);
    this.checkOutputLimit();
  }

  /** As Redis's client-output-buffer-limit: a client that does not read its replies is cut off. */
  private checkOutputLimit(): void {
    const pending = this.outputBytes;
    if (pending <= this.limits.maxOutputBuffer || this.dead) return;
    this.ctx.stats.outputLimitDisconnects++;
    this.log.warn(
      { pendingBytes: pending, limit: this.limits.maxOutputBuffer },
      'client output buffer limit reached; disconnecting (the client is not reading its replies)',
    );
    this.kill();
  }

  /** Drops everything owed and closes at once (a limit was hit). */
  kill(): void {
    if (this.dead) return;
    this.dead = true;
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.backlog.length = 0;
    this.backlogHead = 0;
    this.backlogBytes = 0;
    this.writer.take();
    this.socket.destroy();
    this.releaseWaiters();
  }

  private end(): void {
    if (this.dead) return;
    this.dead = true;
    // Read and drop what the client still sends, so that its FIN closes the socket at once
    // and unread input does not turn the close into a reset.
    this.socket.resume();
    this.socket.end();
    // After QUIT or a protocol error, a peer that never reads must not keep the socket
    // open forever. At shutdown the front-end's --shutdown-timeout governs instead.
    if (!this.shuttingDown) setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  private releaseWaiters(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  /** Stops reading; resolves once every request already read has run and its reply is written. */
  drain(): Promise<void> {
    this.shuttingDown = true;
    this.updateReading();
    if ((this.queue.length === 0 && this.backlogHead === this.backlog.length) || this.dead) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Closes after the replies owed (shutdown). */
  shutdown(): void {
    this.shuttingDown = true;
    this.closing = true;
    if (this.queue.length === 0 && this.backlogHead === this.backlog.length) this.end();
  }

  markDead(): void {
    this.dead = true;
    this.releaseWaiters();
  }

  destroy(): void {
    this.dead = true;
    this.socket.destroy();
    this.releaseWaiters();
  }
}
