import { REJECT_REASONS, type RejectReason } from '../../protocol/datagram-error.js';
import type { StatSection } from '../../stats.js';
import type { ReplyCache } from './reply-cache.js';
import type { UdpReplyEncoder } from './udp-reply-encoder.js';
import type { SharedWrites } from './udp-shared-writes.js';

/** The UDP front-end's own counters, as STATS and INFO show them (udp_*). */
export class UdpCounters {
  datagramsIn = 0;
  datagramsOut = 0;
  bytesIn = 0;
  bytesOut = 0;
  requests = 0;
  rejected = 0;
  readonly rejectedBy = Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>;
  errorReplies = 0;
  idConflicts = 0;
  retriesInProgress = 0;
  notCached = 0;
  sendErrors = 0;
}

/** What else the section reads: the parts of the front-end that keep counts of their own. */
export interface UdpStatsSources {
  readonly port: number;
  readonly io: string;
  readonly maxSize: number;
  readonly rejectLogsSuppressed: number;
  readonly replies: UdpReplyEncoder;
  readonly shared: SharedWrites | null;
  readonly cache: ReplyCache;
  readonly replyCacheTtlMs: number;
  readonly authSenders: number;
}

/** The `udp` section of STATS and INFO, in the order it has always been printed. */
export function udpStatsSection(c: UdpCounters, s: UdpStatsSources): StatSection {
  const out: StatSection = {
    udp_port: s.port,
    udp_io: s.io,
    udp_max_datagram_size: s.maxSize,
    udp_datagrams_received: c.datagramsIn,
    udp_datagrams_sent: c.datagramsOut,
    udp_bytes_received: c.bytesIn,
    udp_bytes_sent: c.bytesOut,
    udp_requests: c.requests,
    udp_rejected: c.rejected,
  };
  for (const r of REJECT_REASONS) out[`udp_rejected_${r}`] = c.rejectedBy[r];
  Object.assign(out, {
    udp_error_replies_sent: c.errorReplies,
    udp_reject_logs_suppressed: s.rejectLogsSuppressed,
    udp_replies_too_large: s.replies.repliesTooLarge,
    udp_large_replies_refused: s.replies.largeRepliesRefused,
    udp_id_conflicts: c.idConflicts,
    udp_retries_while_running: c.retriesInProgress,
    udp_shared_record: s.shared?.where ?? 'none',
    udp_shared_record_hits: s.shared?.hits ?? 0,
    udp_shared_record_running: s.shared?.running ?? 0,
    udp_shared_record_errors: s.shared?.errors ?? 0,
    udp_send_errors: c.sendErrors,
    udp_reply_cache_hits: s.cache.hits,
    udp_reply_cache_evictions: s.cache.evictions,
    udp_reply_cache_evictions_other_source: s.cache.evictionsOtherSource,
    udp_reply_cache_skipped: c.notCached,
    udp_reply_cache_sources: s.cache.sourceCount,
    udp_reply_cache_expired: s.cache.expirations,
    udp_reply_cache_entries: s.cache.size,
    udp_reply_cache_bytes: s.cache.bytes,
    udp_reply_cache_ttl_ms: s.replyCacheTtlMs,
    udp_auth_senders: s.authSenders,
  });
  return out;
}
