import net from 'node:net';
import { UDP } from '../../commands/dialects.js';
import type { AuthUser, Session } from '../../commands/types.js';
import type { OpLog } from '../../op-log.js';
import type { Peer } from './udp-io.js';

/**
 * The UDP front-end's peers: a session per client (address and port), and what is
 * decided about each address (may it get large replies, which reply-cache source it
 * is). All of it is worked out once, when a client is first seen, never per datagram.
 */

/** Sessions (and their op loggers) kept for recent clients; past this many, the table starts afresh. */
const MAX_PEERS = 4096;

/** What is decided about one address. */
export interface AddressFacts {
  /** docs/PROTOCOL.md, udp "Amplification": may it get a reply larger than its request? */
  readonly largeReplies: boolean;
  /** The reply cache's unit of fairness (replySource). */
  readonly source: string;
}

/** One client: its session, and the facts about its address. */
export interface PeerState extends AddressFacts {
  readonly address: string;
  readonly session: Session;
}

export class PeerTable {
  private readonly peers = new Map<string, PeerState>();
  private readonly byPort = new Map<number, PeerState>();
  private readonly addresses = new Map<string, AddressFacts>();
  private nextSessionId = 1;

  constructor(
    private readonly policy: LargeReplyPolicy,
    /** Makes a client's op logger (which may be null); null with --no-log-ops. */
    private readonly opLog: ((client: string) => OpLog | null) | null,
    /** Who a datagram's session runs as, until authenticated datagrams say otherwise: null when credentials are configured. */
    private readonly user: AuthUser | null,
  ) {}

  /** Looked up by port first, so the common case builds no string; the address is then checked. */
  get(rinfo: Peer): PeerState {
    const byPort = this.byPort.get(rinfo.port);
    if (byPort !== undefined && byPort.address === rinfo.address) return byPort;
    const client = `${rinfo.address}:${rinfo.port}`;
    let p = this.peers.get(client);
    if (p === undefined) {
      if (this.peers.size >= MAX_PEERS) {
        // Start over rather than evict one by one: a session is cheap to make again,
        // and this keeps the cost of a flood of new source ports flat.
        this.peers.clear();
        this.byPort.clear();
      }
      const session: Session = {
        transport: 'udp',
        dialect: UDP,
        client,
        opLog: this.opLog === null ? null : this.opLog(client),
        closing: false,
        name: '',
        id: this.nextSessionId++,
        // Transactions are for stream connections: the UDP dialect does not offer them.
        multi: null,
        watched: null,
        user: this.user,
      };
      p = { address: rinfo.address, session, ...this.facts(rinfo.address) };
      this.peers.set(client, p);
    }
    this.byPort.set(rinfo.port, p);
    return p;
  }

  /** Per address, since many ports may share one. */
  private facts(address: string): AddressFacts {
    let f = this.addresses.get(address);
    if (f === undefined) {
      if (this.addresses.size >= MAX_PEERS) this.addresses.clear();
      f = { largeReplies: this.policy.allows(address), source: replySource(address) };
      this.addresses.set(address, f);
    }
    return f;
  }
}

/**
 * docs/PROTOCOL.md, udp "Amplification": who may get a reply larger than its
 * request. The one place that decides it, so that a later policy (one that trusts
 * an authenticated peer, say) can replace it.
 */
export interface LargeReplyPolicy {
  allows(address: string): boolean;
}

/** `--udp-large-replies-to`: `loopback`, `any`, addresses and CIDR blocks (checked by src/server-flags.ts). */
export function largeReplyPolicy(items: readonly string[]): LargeReplyPolicy {
  if (items.includes('any')) return { allows: () => true };
  const list = new net.BlockList();
  for (const item of items) {
    if (item === 'loopback') {
      list.addSubnet('127.0.0.0', 8, 'ipv4');
      list.addAddress('::1', 'ipv6');
      continue;
    }
    const [address = '', prefix] = item.split('/');
    const family = net.isIPv6(address) ? 'ipv6' : 'ipv4';
    if (prefix === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(prefix), family);
  }
  // BlockList matches an IPv4-mapped address (::ffff:127.0.0.1, from a dual-stack
  // socket) against IPv4 rules too.
  const allows = (address: string): boolean => {
    const a = withoutZone(address);
    const family = net.isIP(a);
    return family !== 0 && list.check(a, family === 6 ? 'ipv6' : 'ipv4');
  };
  return { allows };
}

/**
 * docs/PROTOCOL.md, udp "Reply cache": the unit the cache is fair between. One host
 * can send from many ports, and one IPv6 host can use a whole /64, so a source is an
 * IPv4 address (an IPv4-mapped one counts as IPv4) or an IPv6 /64.
 */
export function replySource(address: string): string {
  const a = withoutZone(address);
  if (!a.includes(':')) return a;
  const groups = expandIPv6(a);
  if (groups === null) return a; // not an address this parser knows: the string itself is the source
  if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff) {
    const g6 = groups[6] as number;
    const g7 = groups[7] as number;
    return `${g6 >> 8}.${g6 & 0xff}.${g7 >> 8}.${g7 & 0xff}`;
  }
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64`;
}

function withoutZone(address: string): string {
  const pct = address.indexOf('%');
  return pct < 0 ? address : address.slice(0, pct);
}

/** The eight 16-bit groups of an IPv6 address, or null if it is not one. */
function expandIPv6(address: string): number[] | null {
  if (!net.isIPv6(address)) return null;
  let text = address;
  // A dotted IPv4 tail (::ffff:1.2.3.4) is the last two groups.
  const dot = text.lastIndexOf(':');
  const tail = text.slice(dot + 1);
  if (tail.includes('.')) {
    const [a = 0, b = 0, c = 0, d = 0] = tail.split('.').map(Number);
    text = `${text.slice(0, dot + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', rest] = text.split('::');
  const parse = (s: string) => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const left = parse(head);
  if (rest === undefined) return left;
  const right = parse(rest);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}
