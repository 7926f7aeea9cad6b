import type { Socket } from 'node:net';

/** What CLIENT LIST shows of a stream client's socket (laddr, fd), for every front-end that has one. */

/** `address:port` of our end. */
export function localAddressOf(socket: Socket): string {
  return `${socket.localAddress ?? '?'}:${socket.localPort ?? 0}`;
}

/** The socket's file descriptor, or -1: Node does not expose it, but its handle has it on Unix. */
export function fdOf(socket: Socket): number {
  return (socket as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1;
}
