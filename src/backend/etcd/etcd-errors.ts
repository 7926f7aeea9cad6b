import { KvError } from '../../errors.js';

/** An etcd failure as a KvError: which code, and a message that says what to do. */
export function etcdError(err: unknown): KvError {
  if (err instanceof KvError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const name = err instanceof Error ? err.constructor.name : '';
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
  return new KvError('BACKEND_UNAVAILABLE', `etcd did not answer: ${message}`, { cause: err });
}
