import { KvError } from '../../errors.js';

/**
 * gRPC's and the etcd3 client's words for a request that never left the gateway: no
 * connection to the member it picked (down, refusing), or that member's circuit is open.
 * Such a request is safe to send again, to another member.
 */
const NOT_SENT = /No connection established|ECONNREFUSED|circuit breaker is open|Connection pool has no hosts/i;
/** etcd's own refusals, answered before anything is proposed: nothing was applied. */
const REFUSED_BY_ETCD = /etcdserver: (no leader|too many requests|not capable)/i;

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Whether the request did not reach etcd at all, so that sending it again cannot apply it twice. */
export function wasNotSent(err: unknown): boolean {
  return NOT_SENT.test(messageOf(err));
}

/** Whether the connection was lost with the request on it (its outcome is unknown), not a deadline or a refusal. */
export function lostInFlight(err: unknown): boolean {
  const message = messageOf(err);
  const unavailable = (err instanceof Error && err.constructor.name === 'GRPCUnavailableError') || /\bUNAVAILABLE\b/.test(message);
  return unavailable && !wasNotSent(err) && !REFUSED_BY_ETCD.test(message) && !/leader changed/i.test(message);
}

/** An etcd failure as a KvError: which code, and a message that says what to do. */
export function etcdError(err: unknown): KvError {
  if (err instanceof KvError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const name = err instanceof Error ? err.constructor.name : '';
  // The gateway's own gRPC client, on etcd's reply (grpc-js: "Received message larger than max (N vs M)"): etcd answered.
  const reply = /RESOURCE_EXHAUSTED: Received message larger than max \((\d+) vs (\d+)\)/.exec(message);
  if (reply !== null) {
    return new KvError(
      'VALUE_TOO_LARGE',
      `etcd's reply of ${reply[1]} bytes is over the ${reply[2]} bytes the gateway takes in one reply; read fewer or smaller keys at once (a write it answered may have been applied)`,
      { cause: err },
    );
  }
  // etcd's own check (--max-request-bytes), or its gRPC server's, which takes 512 KiB more and answers RESOURCE_EXHAUSTED.
  if (/request is too large|RESOURCE_EXHAUSTED: grpc: received message larger than max/.test(message)) {
    return new KvError('VALUE_TOO_LARGE', 'etcd refused the request as too large (etcd takes at most 1.5 MiB a request by default: --max-request-bytes)', { cause: err });
  }
  if (/too many operations in txn request/.test(message)) {
    return new KvError('NOT_SUPPORTED', 'etcd refused the transaction: it holds more keys than etcd takes in one (--max-txn-ops, 128 by default)', { cause: err });
  }
  if (/permission denied|authentication failed|invalid auth token|user name is empty/i.test(message)) {
    return new KvError('BACKEND_UNAVAILABLE', `etcd refused the gateway's credentials (${message}); check --etcd-user and the password`, { cause: err });
  }
  if (name === 'GRPCDeadlineExceededError' || /deadline exceeded|request timed out|leader changed/i.test(message)) {
    return new KvError('BACKEND_UNAVAILABLE', `etcd did not answer in time (${message}); a write may or may not have been applied`, { cause: err });
  }
  // errors.ts: BACKEND_UNAVAILABLE means nothing was applied unless it says otherwise. A request
  // on a connection that dropped (the member killed) may have been proposed and committed.
  if (lostInFlight(err)) {
    return new KvError('BACKEND_UNAVAILABLE', `etcd's connection closed before it answered (${message}); a write may or may not have been applied`, { cause: err });
  }
  return new KvError('BACKEND_UNAVAILABLE', `etcd did not answer: ${message}`, { cause: err });
}
