import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { ConfigError } from '../errors.js';

/** README "TLS", --tls-auth-clients: whether a client must show a certificate signed by --tls-ca. */
export const TLS_AUTH_CLIENTS = ['no', 'optional', 'yes'] as const;
export type TlsAuthClients = (typeof TLS_AUTH_CLIENTS)[number];

/** README "TLS": the listeners and the files they serve. */
export interface TlsConfig {
  /** The TLS port for the TCP protocol (text and RESP); null: none. */
  readonly port: number | null;
  /** The HTTPS port for the HTTP API; null: none. */
  readonly httpsPort: number | null;
  /** PEM files, reread on SIGHUP. */
  readonly cert: string;
  readonly key: string;
  /** The CA bundle client certificates are checked against; required unless authClients is `no`. */
  readonly ca: string | null;
  readonly authClients: TlsAuthClients;
}

/** The oldest protocol served: TLS 1.0 and 1.1 are refused in the handshake (RFC 8996). */
export const TLS_MIN_VERSION = 'TLSv1.2';
/** A client that has not finished its handshake within this long is dropped (tls.Server handshakeTimeout). */
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * Reads the certificate, key and CA and builds a secure context from them once, so that
 * a key that does not match its certificate is caught here (at start, or on a SIGHUP
 * reload) rather than on a client's handshake. Throws ConfigError naming the file.
 */
export function loadSecureContext(config: TlsConfig): tls.SecureContextOptions {
  const options: tls.SecureContextOptions = {
    cert: readPem('tls-cert', config.cert),
    key: readPem('tls-key', config.key),
    ...(config.ca !== null ? { ca: readPem('tls-ca', config.ca) } : {}),
    minVersion: TLS_MIN_VERSION,
  };
  try {
    tls.createSecureContext(options);
  } catch (err) {
    throw new ConfigError(
      `--tls-cert ${config.cert}, --tls-key ${config.key}${config.ca !== null ? ` and --tls-ca ${config.ca}` : ''} do not make a TLS context: ${(err as Error).message}; check that they are PEM files and that the key is the certificate's`,
      { cause: err },
    );
  }
  return options;
}

/**
 * The options of a TLS listener (tls.Server, https.Server) on top of its secure context.
 * `yes`: a client without a certificate signed by --tls-ca fails the handshake.
 * `optional`: the certificate is asked for but the handshake goes on without one; a
 * certificate that is shown must verify, which rejectedPeer() checks once the handshake is done.
 */
export function tlsServerOptions(config: TlsConfig, context: tls.SecureContextOptions): tls.TlsOptions {
  return {
    ...context,
    requestCert: config.authClients !== 'no',
    rejectUnauthorized: config.authClients === 'yes',
    handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
  };
}

/** What a TLS listener's front-end does with its sockets. */
export interface TlsListenerHooks {
  /** A client whose handshake is done and whose certificate (if any) verifies. */
  accept(socket: tls.TLSSocket): void;
  /** A client refused after its handshake (counted as a rejected connection). */
  refused(): void;
  /** A rate-limited warn line. */
  warn(fields: Record<string, unknown>, msg: string): void;
}

/**
 * Hands `server`'s secure sockets to `hooks.accept`, refusing first what the handshake let
 * through and --tls-auth-clients does not: under `optional`, a certificate that was shown
 * and does not verify against --tls-ca (closed before a byte is read). A failed or
 * timed-out handshake (a plain client on the TLS port, a refused certificate, TLS 1.1)
 * closes that socket and is logged, rate-limited; nothing else happens.
 */
export function watchTlsListener(server: tls.Server, hooks: TlsListenerHooks): void {
  server.prependListener('secureConnection', (socket: tls.TLSSocket) => {
    const why = rejectedPeer(socket);
    if (why === null) return hooks.accept(socket);
    hooks.refused();
    hooks.warn({ client: clientOf(socket), reason: why }, 'connection refused: the client certificate does not verify against --tls-ca');
    socket.destroy();
  });
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
    hooks.warn({ client: clientOf(socket), err: { code: err.code, message: err.message } }, 'TLS handshake failed; connection closed');
  });
}

/** Why a finished handshake must still be refused, or null to serve it. */
function rejectedPeer(socket: tls.TLSSocket): string | null {
  if (socket.authorized) return null;
  const shown = Object.keys(socket.getPeerCertificate()).length > 0;
  return shown ? String(socket.authorizationError ?? 'the client certificate does not verify') : null;
}

function clientOf(socket: tls.TLSSocket): string {
  return `${socket.remoteAddress}:${socket.remotePort}`;
}

function readPem(flag: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new ConfigError(`--${flag} ${file} cannot be read: ${(err as Error).message}; point --${flag} (KV_${flag.toUpperCase().replace('-', '_')}) at a readable PEM file`, {
      cause: err,
    });
  }
}
