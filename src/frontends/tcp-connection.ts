import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { executeCommand } from '../commands/execute.js';
import type { CommandContext, Dialect, Session } from '../commands/types.js';
import { KvError, ProtocolError } from '../errors.js';
import { createOpLog, type OpLog } from '../op-log.js';
import { errorReply, type Reply } from '../protocol/reply.js';
import { ReplyWriter } from '../protocol/reply-writer.js';
import { encodeRespReply, RespDecoder } from '../protocol/resp.js';
import type { CommandSink, DecoderLimits } from '../protocol/sink.js';
import { encodeTextReply, TextLineDecoder } from '../protocol/text.js';
import type { ByteString } from '../store/bytes.js';

/**
 * Where flush() assembles replies that waited in the queue. flush() runs to the end
 * without yielding and take() copies the bytes out, so one writer serves every
 * connection (a fresh 16 KiB buffer per flush was a measurable share of GC time
 * under --fsync always).
 */
const SCRATCH = new ReplyWriter();

/** A reply waiting for durability, kept in order with the replies around it. */
interface Pending {
  reply: Reply | null;
  bytes: Buffer | null;
  /** About how many bytes it will encode to, counted against --max-output-buffer while queued. */
  size: number;
}

/** A reply's encoded size, near enough for the output-buffer limit. */
function sizeHint(r: Reply): number {
  return r.t === 'bulk' ? r.v.length + 16 : r.t === 'array' ? r.items.reduce((n, it) => n + sizeHint(it), 16) : 32;
}

/**
 * One TCP client. The dialect is chosen from the first byte (`*`: RESP2,
 * anything else: text). Commands decoded from one read run in order, and their
 * replies leave in one write. A reply that must wait for the log (--fsync always)
 * holds back the replies after it, so replies always leave in request order.
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
  private dead = false;
  private shuttingDown = false;
  private drainWaiters: Array<() => void> = [];
  /** Bytes of the replies waiting in `queue`. */
  private queuedBytes = 0;

  constructor(
    readonly id: number,
    readonly client: string,
    private readonly socket: Socket,
    private readonly ctx: CommandContext,
    private readonly log: Logger,
    logOps: boolean,
    private readonly decoderLimits: DecoderLimits,
  ) {
    this.opLog = logOps ? createOpLog(log) : null;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
  }

  private onData(chunk: Buffer): void {
    if (this.dead) return;
    this.ctx.stats.bytesIn += chunk.length;
    if (this.decoder === null) this.chooseDialect(chunk);
    try {
      (this.decoder as RespDecoder | TextLineDecoder).feed(chunk);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this.ctx.stats.protocolErrors++;
      this.log.warn({ err: { code: err.code, message: err.message } }, 'protocol error; closing the connection');
      this.push(errorReply(err));
      this.closing = true;
    }
    this.flush();
  }

  private chooseDialect(first: Buffer): void {
    if (first[0] === 0x2a /* * */) {
      this.dialect = 'resp';
      this.encode = encodeRespReply;
      this.decoder = new RespDecoder(this, this.decoderLimits);
    } else {
      this.dialect = 'text';
      this.encode = encodeTextReply;
      this.decoder = new TextLineDecoder(this, this.decoderLimits);
    }
    this.log.debug({ dialect: this.dialect }, 'dialect chosen');
  }

  command(args: ByteString[]): boolean {
    if (this.closing || this.dead) return false;
    this.push(executeCommand(this.ctx, this, args));
    return !this.closing && !this.dead;
  }

  reject(err: KvError): boolean {
    if (this.closing || this.dead) return false;
    this.log.warn({ err: { code: err.code, message: err.message } }, 'request rejected');
    this.ctx.stats.countCommand('rejected', true, 0);
    this.push(errorReply(err));
    return !this.dead;
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
    this.flush();
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
    const pending = this.socket.writableLength + this.writer.length + this.queuedBytes;
    if (pending <= this.ctx.limits.maxOutputBuffer || this.dead) return;
    this.ctx.stats.outputLimitDisconnects++;
    this.log.warn(
      { pendingBytes: pending, limit: this.ctx.limits.maxOutputBuffer },
      'client output buffer limit reached; disconnecting (the client is not reading its replies)',
    );
    this.dead = true;
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.writer.take();
    this.socket.destroy();
  }

  private end(): void {
    if (this.dead) return;
    this.dead = true;
    this.socket.end();
    // After QUIT or a protocol error, a peer that never reads must not keep the socket
    // open forever. At shutdown the front-end's --shutdown-timeout governs instead.
    if (!this.shuttingDown) setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  /** Stops reading; resolves once every reply already owed has been written. */
  drain(): Promise<void> {
    this.socket.pause();
    if (this.queue.length === 0 || this.dead) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Closes after the replies owed (shutdown). */
  shutdown(): void {
    this.shuttingDown = true;
    this.closing = true;
    if (this.queue.length === 0) this.end();
  }

  markDead(): void {
    this.dead = true;
  }

  destroy(): void {
    this.dead = true;
    this.socket.destroy();
  }
}
