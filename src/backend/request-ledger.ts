/**
 * A record of UDP write requests that every gateway over one engine shares
 * (docs/PROTOCOL.md, udp "Across gateways"). The reply cache (src/frontends/udp/reply-cache.ts)
 * keeps a server's at-most-once promise alone; over a shared engine a client's retry may
 * reach another gateway, which looks here before it runs the request.
 *
 * A request is claimed before it runs, and the claim is atomic at the engine: of all the
 * gateways that get a copy, exactly one runs it. The others answer with the reply the
 * claimant recorded once it has one, and drop the copy while it has none (the client
 * sends again). Records end with the reply cache's window (--reply-cache-ttl).
 */

/** A request's identity as its gateways see it: the client's address, port and request ID. */
export type RequestId = string;

export type LedgerClaim =
  /** This gateway runs the request; `token` goes back to complete() or release(). */
  | { readonly kind: 'claimed'; readonly token: unknown }
  /** A gateway claimed it and has not recorded its reply yet (it is running, or it stopped). */
  | { readonly kind: 'running' }
  /** It ran: the reply to send again, byte for byte. */
  | { readonly kind: 'done'; readonly reply: Buffer }
  /** The ID was used for a request with other bytes in the window. */
  | { readonly kind: 'conflict' };

export interface RequestLedger {
  /** Where the records live, for STATS (never a secret). */
  readonly where: string;
  /** Claims `id` for `windowMs`, or says who has it. */
  claim(id: RequestId, fingerprint: number, windowMs: number): Promise<LedgerClaim>;
  /** Records the reply of a claimed request, for the rest of its window. */
  complete(id: RequestId, fingerprint: number, reply: Buffer, token: unknown): Promise<void>;
  /** Drops a claim whose request any copy may run again (it was refused by its own bytes). */
  release(id: RequestId, token: unknown): Promise<void>;
}

/** A record's value: a tag byte, the request's fingerprint (u32 BE), then the reply when done. */
export const RECORD_RUNNING = 0x52; // 'R'
export const RECORD_DONE = 0x44; // 'D'

export function encodeRecord(tag: typeof RECORD_RUNNING | typeof RECORD_DONE, fingerprint: number, reply?: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + (reply?.length ?? 0));
  out[0] = tag;
  out.writeUInt32BE(fingerprint >>> 0, 1);
  reply?.copy(out, 5);
  return out;
}

/** What a record found at claim time says; null for bytes dualkv did not write. */
export function readRecord(value: Buffer, fingerprint: number): LedgerClaim | null {
  if (value.length < 5 || (value[0] !== RECORD_RUNNING && value[0] !== RECORD_DONE)) return null;
  if (value.readUInt32BE(1) !== fingerprint >>> 0) return { kind: 'conflict' };
  if (value[0] === RECORD_RUNNING) return { kind: 'running' };
  return { kind: 'done', reply: Buffer.from(value.subarray(5)) };
}
