import type { Logger } from 'pino';
import { RESP, TEXT } from '../../commands/dialects.js';
import type { AuthUser, ClientConnection, Dialect, QueuedTransaction, ReplyMode, Session } from '../../commands/types.js';
import { asKvError, ProtocolError, type KvError } from '../../errors.js';
import type { OpLog } from '../../op-log.js';
import { errorReply, type Reply } from '../../protocol/reply.js';
import { ReplyWriter } from '../../protocol/reply-writer.js';
import { encodeResp3Reply, encodeRespReply, RespDecoder } from '../../protocol/resp.js';
import { preAuthLimits, type CommandSink, type DecoderLimits } from '../../protocol/sink.js';
import { encodeTextReply, TextLineDecoder } from '../../protocol/text.js';
import type { ByteString } from '../../store/bytes.js';
import { FirstLine, type DialectName } from './first-line.js';
import { reportProtocolError, reportRejected } from './session-errors.js';
import { NOTHING, RequestBacklog, SCRATCH, SLOT_BYTES, type Deferred, type Slot } from './session-entries.js';
import { REPLY_HOLD_BYTES, type RunCommand, type SessionOutput, type SessionStats, type StreamSessionOptions } from './stream-session-options.js';

export { REPLY_HOLD_BYTES, type RunCommand, type SessionOutput, type SessionStats, type StreamSessionOptions } from './stream-session-options.js';

/**
 * One client's byte stream, with no socket: bytes in through feed(), reply bytes out
 * through a SessionOutput. The dialect is chosen from the first line (`*`, or a line
 * ending in CRLF: RESP2; a bare LF: text; first-line.ts). Requests run in the order they arrive and their replies leave
 * in that order, even when a reply is a promise: the replies after it wait in the order
 * queue. Requests decoded while the output asks to wait, or while the session holds
 * more than `holdBytes` of replies, wait in a backlog and run on resume(), in order.
 * A protocol error is answered after the replies to everything read before it, then
 * the session ends, as after QUIT.
 */
export class StreamSession implements CommandSink, Session {
  readonly transport = 'tcp' as const;
  dialect: Dialect = TEXT;
  /** Set by QUIT, a protocol error or close(): the session ends once the replies owed are written. */
  closing = false;
  name = '';
  /** CLIENT REPLY: undefined is `on`; a handler that sets `on`, `off` or `skip` is read after it runs (silenced()). */
  replyMode: ReplyMode | undefined = undefined;
  monitoring = false;
  private resp3 = false;
  /** The connection around this session, as CLIENT LIST shows it (set by its SocketConnection). */
  conn: ClientConnection | undefined = undefined;
  readonly id: number;
  multi: QueuedTransaction | null = null;
  watched: Map<ByteString, number> | null = null;
  readonly client: string;
  readonly opLog: OpLog | null;
  private readonly run: RunCommand;
  private readonly output: SessionOutput;
  private readonly stats: SessionStats;
  private readonly log: Logger;
  /** What the decoder holds requests to now: the full limits, or while `user` is null the pre-auth ones. */
  private limits: DecoderLimits;
  private readonly fullLimits: DecoderLimits;
  user: AuthUser | null;
  private readonly holdBytes: number;
  private readonly oneAtATime: boolean;
  private decoder: RespDecoder | TextLineDecoder | null = null;
  /** The first bytes, held until the first line's end shows which dialect they are. */
  private readonly firstLine = new FirstLine();
  private encode: (w: ReplyWriter, r: Reply) => void = encodeTextReply;
  /** Sync replies after every slot of `queue`: the tail of the output. */
  private readonly writer = new ReplyWriter();
  /** Replies that must leave before the writer's, the first of them still pending. */
  private readonly queue: Slot[] = [];
  /** Bytes of the settled slots in `queue`, plus SLOT_BYTES for each pending one. */
  private queuedBytes = 0;
  /** Slots of `queue` whose promise is pending. */
  private pending = 0;
  private readonly backlog = new RequestBacklog();
  /** The output asked to wait: nothing is written or run until resume(). */
  private blocked = false;
  /** The decoder threw: nothing more is read. */
  private failed = false;
  /** The peer sends nothing more (its FIN): the session ends once everything read is answered. */
  private inputEnded = false;
  /** CLIENT REPLY SKIP ran: the next command's reply is dropped. */
  private skipNext = false;
  /** end() was called, or abort(): nothing more is run or written. */
  private ended = false;

  constructor(options: StreamSessionOptions) {
    this.id = options.id;
    this.client = options.client;
    this.run = options.run;
    this.output = options.output;
    this.stats = options.stats;
    this.log = options.log;
    this.opLog = options.opLog;
    this.fullLimits = options.limits;
    this.user = options.user;
    this.limits = this.user === null ? preAuthLimits(options.limits) : options.limits;
    this.holdBytes = options.holdBytes ?? REPLY_HOLD_BYTES;
    this.oneAtATime = options.oneAtATime ?? false;
  }

  /** RESP2, or RESP3 once HELLO 3 chose it: the replies from then on are encoded so. */
  get protocol(): 2 | 3 {
    return this.resp3 ? 3 : 2;
  }

  set protocol(v: 2 | 3) {
    this.resp3 = v === 3;
    if (this.dialect === RESP) this.encode = this.resp3 ? encodeResp3Reply : encodeRespReply;
  }

  /** Bytes of an unfinished request, of the requests waiting in the backlog, and of a transaction's queue (MULTI). */
  get queryBytes(): number {
    return (this.decoder?.pendingBytes ?? this.firstLine.length) + this.backlog.bytes + (this.multi?.bytes ?? 0);
  }

  /** Reply bytes not yet handed to the output. */
  get replyBytes(): number {
    return this.writer.length + this.queuedBytes;
  }

  /** The size of the buffer this session's replies are encoded into. */
  get replyBufferBytes(): number {
    return this.writer.capacity;
  }

  /**
   * A reply no request asked for (a MONITOR line): it goes after everything owed, and
   * the output is told, so that a watcher that does not read meets --max-output-buffer.
   */
  pushUnsolicited(reply: Reply): void {
    if (this.ended) return;
    this.encode(this.writer, reply);
    this.flush();
    this.output.changed();
  }

  /** Requests are read but not run: the caller should stop reading until resume(). */
  get waiting(): boolean {
    return this.backlog.waiting;
  }

  /** Every request read has run and its reply has been handed to the output. */
  get idle(): boolean {
    return this.ended || (!this.waiting && this.queue.length === 0 && this.writer.length === 0);
  }

  feed(chunk: Buffer): void {
    if (this.ended || this.failed) return;
    this.stats.bytesIn += chunk.length;
    let bytes = chunk;
    if (this.decoder === null) {
      const held = this.holdFirstLine(chunk);
      if (held === null) return;
      bytes = held;
    }
    this.decode(bytes);
    this.pump();
  }

  private decode(bytes: Buffer): void {
    try {
      (this.decoder as RespDecoder | TextLineDecoder).feed(bytes);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this.onProtocolError(err);
    }
  }

  /** The output takes bytes again. */
  resume(): void {
    if (this.ended || !this.blocked) return;
    this.blocked = false;
    this.pump();
  }

  /** The peer will send nothing more: the session ends once everything read has run and been answered. */
  endInput(): void {
    if (this.ended) return;
    this.inputEnded = true;
    // A first line that never ended: the text dialect's, as before there was a choice to make.
    if (this.decoder === null && this.firstLine.length > 0 && !this.failed) this.decode(this.takeFirstBytes('text'));
    this.pump();
  }

  /** Reads nothing more, drops the requests not yet run, and ends once the replies owed are written (shutdown). */
  close(): void {
    if (this.ended) return;
    this.closing = true;
    this.pump();
  }

  /** Drops everything owed, at once (the connection is gone or was cut). */
  abort(): void {
    this.ended = true;
    this.blocked = true;
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.pending = 0;
    this.backlog.clear();
    if (this.writer.length > 0) this.writer.take();
  }

  /** Returns the bytes to decode once the first line has chosen the dialect (first-line.ts), or null while it is held. */
  private holdFirstLine(chunk: Buffer): Buffer | null {
    const dialect = this.firstLine.add(chunk, this.limits.maxLineBytes);
    return dialect === null ? null : this.takeFirstBytes(dialect);
  }

  private takeFirstBytes(dialect: DialectName): Buffer {
    const bytes = this.firstLine.take();
    this.chooseDialect(dialect);
    return bytes;
  }

  private chooseDialect(dialect: DialectName): void {
    if (dialect === 'resp') {
      this.dialect = RESP;
      this.encode = encodeRespReply;
      this.decoder = new RespDecoder(this, this.limits);
    } else {
      this.dialect = TEXT;
      this.encode = encodeTextReply;
      this.decoder = new TextLineDecoder(this, this.limits);
    }
    this.log.debug({ dialect: this.dialect.name }, 'dialect chosen');
  }

  command(args: ByteString[]): boolean {
    if (this.closing || this.ended) return false;
    if (this.waiting || !this.canRun()) {
      this.backlog.add({ args });
      return true;
    }
    this.runOne(args);
    return !this.closing && !this.ended;
  }

  private runOne(args: ByteString[]): void {
    const skipThis = this.skipNext;
    this.skipNext = false;
    if (this.replyMode === 'on') this.replyMode = undefined;
    const reply = this.run(this, args);
    // AUTH (or RESET) changed who this is: the next request, even later in this chunk, is held to that.
    if ((this.user === null) !== (this.limits.unauthenticated === true)) this.relimit();
    this.push(reply, this.silenced(skipThis));
  }

  private relimit(): void {
    this.limits = this.user === null ? preAuthLimits(this.fullLimits) : this.fullLimits;
    this.decoder?.relimit(this.limits);
  }

  /** Whether CLIENT REPLY drops the reply of the command that just ran (Redis's REPLY_OFF, REPLY_SKIP and SKIP_NEXT). */
  private silenced(skipThis: boolean): boolean {
    switch (this.replyMode) {
      case undefined:
        return skipThis;
      case 'off':
        return true;
      case 'on': // CLIENT REPLY ON just ran: its OK goes, even after a SKIP
        this.replyMode = undefined;
        return false;
      case 'skip': // CLIENT REPLY SKIP just ran: no reply to it, nor to the next command
        this.replyMode = undefined;
        this.skipNext = true;
        return true;
    }
  }

  reject(err: KvError): boolean {
    if (this.closing || this.ended) return false;
    if (this.waiting || !this.canRun()) {
      this.backlog.add({ err });
      return true;
    }
    this.answerError(err);
    return !this.closing && !this.ended;
  }

  private onProtocolError(err: ProtocolError): void {
    reportProtocolError(err, this.stats, this.log);
    this.failed = true;
    // Its reply goes after the replies to everything read before it.
    if (this.waiting) this.backlog.add({ err });
    else this.answerError(err);
  }

  /** A refused request gets its error; one whose code closes the connection (src/errors.ts) is the last reply. */
  private answerError(err: KvError): void {
    if (err.closesConnection) {
      this.push(errorReply(err));
      this.closing = true;
      return;
    }
    reportRejected(err, this.stats, this.log);
    this.push(errorReply(err));
  }

  private canRun(): boolean {
    return !this.blocked && !this.ended && this.replyBytes <= this.holdBytes && !(this.oneAtATime && this.pending > 0);
  }

  private push(reply: Reply | Promise<Reply>, silent = false): void {
    if (!(reply instanceof Promise)) {
      if (!silent) this.encode(this.writer, reply);
      return;
    }
    // What the writer holds leaves before this reply.
    if (this.writer.length > 0) {
      const bytes = this.writer.take();
      this.queue.push({ bytes });
      this.queuedBytes += bytes.length;
    }
    const slot: Slot = { bytes: null };
    this.queue.push(slot);
    this.queuedBytes += SLOT_BYTES;
    this.pending++;
    reply.then(
      (r) => this.settle(slot, r, silent),
      (err: unknown) => this.settle(slot, errorReply(asKvError(err, 'the command failed')), silent),
    );
  }

  private settle(slot: Slot, r: Reply, silent: boolean): void {
    if (this.ended) return;
    // A silenced reply still holds its place: what follows it waits for it, as for any other.
    if (silent) slot.bytes = NOTHING;
    else {
      this.encode(SCRATCH, r);
      slot.bytes = SCRATCH.take();
    }
    this.pending--;
    this.queuedBytes += slot.bytes.length - SLOT_BYTES;
    this.pump();
    this.output.changed();
  }

  /**
   * Runs what waits in the backlog and writes what is ready, for as long as the output
   * takes it; then ends if closing, or at the end of the input, once nothing is left. The loop goes on while every
   * write is taken at once (a socket that keeps up): no resume() would come to carry on.
   */
  private pump(): void {
    for (;;) {
      this.runBacklog();
      this.flush();
      if (this.ended || !this.waiting || !this.canRun()) break;
    }
    if ((this.closing || this.inputEnded) && !this.ended && !this.waiting && this.pending === 0) this.finish();
  }

  private runBacklog(): void {
    while (this.waiting && this.canRun()) {
      // After a QUIT, or close(), what was read behind it is dropped, as the decoder would have.
      if (this.closing) break;
      const d: Deferred = this.backlog.take();
      if ('args' in d) this.runOne(d.args);
      else this.answerError(d.err);
    }
    if (!this.waiting || this.closing) this.backlog.clear();
  }

  /** Hands the output every reply that is ready, in order, in as few writes as possible. */
  private flush(): void {
    if (this.blocked || this.ended) return;
    if (this.queue.length > 0) {
      let head = this.queue[0];
      while (head !== undefined && head.bytes !== null) {
        SCRATCH.raw(head.bytes);
        this.queuedBytes -= head.bytes.length;
        this.queue.shift();
        head = this.queue[0];
      }
      if (SCRATCH.length > 0) this.send(SCRATCH.take());
      // A reply still pending holds back the writer's.
      if (this.queue.length > 0 || this.blocked) return;
    }
    if (this.writer.length > 0) this.send(this.writer.take());
  }

  private send(bytes: Buffer): void {
    this.stats.bytesOut += bytes.length;
    if (!this.output.write(bytes)) this.blocked = true;
  }

  /** The last replies go even if the output asked to wait: nothing comes after them. */
  private finish(): void {
    for (const slot of this.queue) SCRATCH.raw(slot.bytes as Buffer);
    this.queue.length = 0;
    this.queuedBytes = 0;
    if (this.writer.length > 0) SCRATCH.raw(this.writer.take());
    if (SCRATCH.length > 0) this.send(SCRATCH.take());
    if (this.ended) return; // the output cut the session while taking them
    this.ended = true;
    this.output.end();
  }
}
