import { isIPv4 } from 'node:net';

/**
 * Protected mode, as Redis has it (README "Authentication"): with no credentials
 * configured, only clients on loopback are served, on every front-end. Anyone else is
 * told the ways out in one line and disconnected.
 */

/** 127.0.0.0/8, ::1, and IPv4 loopback mapped into IPv6 (::ffff:127.x.y.z). */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  if (address === '::1') return true;
  const v4 = address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
  return isIPv4(v4) && v4.startsWith('127.');
}

/** The one line a refused client gets (after Redis's DENIED text, with dualkv's four ways out). */
export const PROTECTED_MODE_MESSAGE =
  'dualkv is running in protected mode because no credentials are configured, so only loopback clients are served. ' +
  'Ways out: 1) set a password with --requirepass (or KV_REQUIREPASS), 2) give users with --users-file, ' +
  '3) if every host that can reach this port may read and write everything, start with --no-protected-mode, ' +
  '4) connect through 127.0.0.1 (an SSH tunnel or a sidecar proxy on the server\'s host).';

/** What decides, per client, whether protected mode refuses it: set when the server starts. */
export interface ProtectedMode {
  /** True when this client must be refused. */
  refuses(address: string | undefined): boolean;
}

/** Protected mode for a server: on when configured and no credentials are. */
export function protectedMode(enabled: boolean, credentialsRequired: () => boolean): ProtectedMode {
  return { refuses: (address) => enabled && !credentialsRequired() && !isLoopback(address) };
}

/** The start-up warning: a non-loopback address bound with no credentials. */
export function exposedWithoutCredentials(host: string): boolean {
  return !isLoopback(host) && host !== 'localhost';
}
