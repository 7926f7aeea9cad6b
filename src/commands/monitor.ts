import type { Reply } from '../protocol/reply.js';
import type { ByteString } from '../store/bytes.js';
import type { MonitorFeed, Session } from './types.js';
import { wallClockMs } from './wall-clock.js';

/**
 * A byte string as Redis's sdscatrepr quotes it: `"…"`, with `\\`, `\"`, `\n`, `\r`, `\t`,
 * `\a`, `\b` and `\xHH` for every other byte that is not printable ASCII.
 */
export function quoteRepr(s: ByteString): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    switch (c) {
      case 0x5c:
        out += '\\\\';
        break;
      case 0x22:
        out += '\\"';
        break;
      case 0x0a:
        out += '\\n';
        break;
      case 0x0d:
        out += '\\r';
        break;
      case 0x09:
        out += '\\t';
        break;
      case 0x07:
        out += '\\a';
        break;
      case 0x08:
        out += '\\b';
        break;
      default:
        out += c >= 0x20 && c <= 0x7e ? s[i] : `\\x${c.toString(16).padStart(2, '0')}`;
    }
  }
  return out + '"';
}

/** One MONITOR line, as Redis writes it (replication.c replicationFeedMonitors): `1339518083.107412 [0 127.0.0.1:60866] "keys" "*"`. */
export function monitorLine(nowMs: number, client: string, args: readonly ByteString[]): string {
  const us = Math.floor(nowMs * 1000);
  const sec = Math.floor(us / 1e6);
  return `${sec}.${String(us % 1e6).padStart(6, '0')} [0 ${client}] ${args.map(quoteRepr).join(' ')}`;
}

/** The watchers: each gets every other client's commands as status lines, bounded by its own output brake. */
export class Monitors implements MonitorFeed {
  private readonly watchers = new Set<Session>();
  active = false;

  add(watcher: Session): void {
    this.watchers.add(watcher);
    this.active = true;
  }

  remove(watcher: Session): void {
    this.watchers.delete(watcher);
    this.active = this.watchers.size > 0;
  }

  feed(session: Session, args: readonly ByteString[]): void {
    const line: Reply = { t: 'status', s: monitorLine(wallClockMs(), session.client, args) };
    for (const w of this.watchers) w.conn?.push(line);
  }
}
