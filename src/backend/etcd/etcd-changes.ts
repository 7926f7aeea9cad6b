import type { Etcd3, IEvent, IWatchResponse } from 'etcd3';
import { KvError } from '../../errors.js';
import { bytesToString } from '../../store/bytes.js';
import { ChangeLog } from '../memory/change-log.js';
import type { ChangeEvent, ChangePage, ChangeQuery } from '../types.js';
import { decodeValue } from './envelope.js';
import { etcdError } from './etcd-errors.js';

/** Where the keys live. */
export interface WatchScope {
  readonly prefix: Buffer;
  readonly prefixEnd: Buffer;
}

/** How long a broken watch waits before it starts again. */
const RESTART_DELAY_MS = 1000;

/**
 * Backend.changes over etcd's watch, as a watch cache (as Kubernetes's API server keeps
 * one): from the first CHANGES (or HTTP watch) on, the gateway holds one watch on the
 * prefix and keeps what it reports in a ChangeLog, the ring the memory backend keeps, so
 * every watcher is answered from it, at once or when the next change arrives.
 *
 * Why not one etcd watch per call: etcd 3.4 cannot say when a watch that starts in the
 * past has sent all of its history (its progress notification does not wait for that),
 * so "nothing changed since" could not be told from "not sent yet". A watch that starts
 * now is in step at once, and everything after its start revision comes in order.
 *
 * The history begins at that start: a watcher naming an older revision is told
 * `compacted` and reads the keys again, as after etcd's own compaction. If the watch
 * breaks it starts again from the last revision it saw; if etcd compacted that away
 * meanwhile, watchers from before are told `compacted`. A gateway's cache trails etcd by
 * the time an event takes to reach it: a change through another gateway shows up here a
 * moment later, never out of order, and nothing after a revision a page gave is missed.
 *
 * What etcd reports: a put (an EXPIRE or PERSIST that kept the value is an `expire`), and
 * a delete for DEL, an expiry's lease and each key of FLUSHALL (no single `flush` event).
 */
export class EtcdWatchCache {
  private log: ChangeLog | null = null;
  private starting: Promise<ChangeLog> | null = null;
  /** The newest revision the watch has reported. */
  private revision = 0;
  private stream: Awaited<ReturnType<Etcd3['watchClient']['watch']>> | null = null;
  private restartTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly client: Etcd3,
    private readonly scope: WatchScope,
    /** The store's current revision (a read at etcd), where a new watch starts. */
    private readonly currentRevision: () => Promise<number>,
    private readonly onRevision: (revision: number) => void,
  ) {}

  async changes(since: number, query: ChangeQuery): Promise<ChangePage> {
    const log = this.log ?? (await this.start());
    return log.wait(since, query);
  }

  close(): void {
    this.closed = true;
    if (this.restartTimer !== null) clearTimeout(this.restartTimer);
    this.stop();
  }

  /** The first call: the watch starts at the current revision, and answers once etcd has taken it. */
  private start(): Promise<ChangeLog> {
    this.starting ??= (async () => {
      const from = await this.currentRevision();
      this.revision = from;
      await this.open(from);
      const log = new ChangeLog(() => this.revision, from);
      this.log = log;
      return log;
    })().finally(() => {
      this.starting = null;
    });
    return this.starting;
  }

  /** Opens the watch after `after`; resolves once etcd says it is created. */
  private open(after: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let created = false;
      let mine: typeof this.stream = null;
      const fail = (err: unknown): void => {
        // A stream this cache has let go of (it broke, and another took its place) says nothing more.
        if (mine !== null && this.stream !== mine) return;
        this.stop();
        if (!created) reject(etcdError(err));
        else this.broken();
      };
      this.client.watchClient
        // A stream lives until closed: no deadline.
        .watch({ deadline: Infinity })
        .then((stream) => {
          if (this.closed) {
            stream.cancel();
            return reject(new KvError('SHUTTING_DOWN', 'the gateway is stopping'));
          }
          this.stream = stream;
          mine = stream;
          stream.on('data', (res: IWatchResponse) => {
            if (this.stream !== stream) return;
            if (res.canceled) {
              const compacted = Number(res.compact_revision);
              if (compacted > 0) {
                // What came before etcd's compaction is gone: go on from there, and tell watchers from before.
                this.log?.forgetUpTo(compacted - 1);
                this.revision = Math.max(this.revision, compacted - 1);
              }
              return fail(new KvError('BACKEND_UNAVAILABLE', `etcd ended the watch: ${res.cancel_reason || `revision ${after + 1} is compacted`}`));
            }
            if (res.created) {
              created = true;
              return resolve();
            }
            this.take(res);
          });
          stream.on('error', fail);
          stream.on('end', () => fail(new KvError('BACKEND_UNAVAILABLE', 'etcd closed the watch')));
          stream.write({ create_request: { key: this.scope.prefix, range_end: this.scope.prefixEnd, start_revision: after + 1, prev_kv: true } });
        })
        .catch(fail);
    });
  }

  private take(res: IWatchResponse): void {
    // Events up to the revision before this answer are in the log already (a restarted watch
    // begins after what it saw; the keys of one revision come in one answer).
    const seen = this.revision;
    for (const e of res.events) {
      const change = toChange(e, this.scope.prefix.length);
      if (change.version <= seen) continue;
      this.revision = Math.max(this.revision, change.version);
      this.log?.append(change.key, change.version, change.op);
    }
    // Not the answer's header revision: while a restarted watch catches up, etcd sends the
    // history in batches of up to 1000 revisions, each headed with the newest revision.
    this.onRevision(this.revision);
  }

  private stop(): void {
    const s = this.stream;
    this.stream = null;
    try {
      s?.cancel();
    } catch {
      // Already closed.
    }
  }

  /** The watch broke: start it again after what it saw, so nothing is skipped. */
  private broken(): void {
    if (this.closed || this.restartTimer !== null) return;
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.closed) return;
      // etcd is away (or compacted past what the watch saw, which open() handled): again, later.
      this.open(this.revision).catch(() => this.broken());
    }, RESTART_DELAY_MS);
    this.restartTimer.unref();
  }
}

function toChange(e: IEvent, prefixLength: number): ChangeEvent {
  const key = bytesToString(e.kv.key, prefixLength);
  const version = Number(e.kv.mod_revision);
  if (e.type === 'Delete') return { key, version, op: 'del' };
  const now = decodeValue(e.kv.value);
  const before = e.prev_kv === undefined || e.prev_kv === null ? null : decodeValue(e.prev_kv.value);
  const expiryOnly = now !== null && before !== null && now.value === before.value && now.expiresAt !== before.expiresAt;
  return { key, version, op: expiryOnly ? 'expire' : 'put' };
}
