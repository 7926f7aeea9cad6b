import { memcachedTransport } from './memcached-lane.js';
import type { TransportName } from './options.js';
import { respDialect, textDialect } from './tcp-dialects.js';
import { openTcpTransport } from './tcp-lane.js';
import type { LaneShare, Transport, TransportEvents } from './transport.js';
import { openUdpTransport } from './udp-lane.js';

/** Opens a thread's share of the named transport; rejects with a KvError saying what to check. */
export function openTransport(name: TransportName, share: LaneShare, events: TransportEvents): Promise<Transport> {
  switch (name) {
    case 'tcp':
      return openTcpTransport(textDialect, share, events);
    case 'resp':
      return openTcpTransport(respDialect, share, events);
    case 'udp':
      return openUdpTransport(share);
    case 'memcached-udp':
      return memcachedTransport(share, events);
  }
}
