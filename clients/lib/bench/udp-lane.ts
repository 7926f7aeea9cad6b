import { KvError } from '../../../src/errors.js';
import { Opcode, Status, STATUS_NAMES } from '../../../src/protocol/datagram.js';
import { TimeoutError, UdpClient, type UdpResult } from '../udp-client.js';
import { loadUdpKey } from '../udp-key.js';
import { replyError } from '../udp-errors.js';
import { ErrorKind, Outcome } from './tally.js';
import type { OpKind } from './workload.js';
import type { Done, Lane, LaneShare, Transport } from './transport.js';

const OPCODES = [Opcode.GET, Opcode.PUT, Opcode.DEL] as const;

/**
 * The probe's own retry timing: eight tries at a steady 150-225 ms, so a lossy
 * path (a chaos proxy at 20% each way) still gets through, and a silent host is
 * reported within two seconds. ICMP port unreachable ends it at once.
 */
const PROBE_TIMEOUT_MS = 150;
const PROBE_RETRIES = 7;

/**
 * dualkv's UDP protocol through the project's own UdpClient (clients/lib/udp-client.ts),
 * so the figures include what a real client does: CRC checks, request IDs,
 * retries with CoAP-style backoff. One client (one socket) per lane.
 */
class UdpLane implements Lane {
  ready = true;
  outstanding = 0;
  private closeKind: string = ErrorKind.UNFINISHED;
  private closed = false;

  constructor(
    readonly depth: number,
    private readonly client: UdpClient,
    readonly server: number,
  ) {}

  send(op: OpKind, key: Buffer, value: Buffer, done: Done): void {
    this.outstanding++;
    this.client.request(OPCODES[op] as Opcode, key, op === 1 ? value : undefined).then(
      (r) => {
        this.outstanding--;
        classify(r, done);
      },
      (err: unknown) => {
        this.outstanding--;
        if (err instanceof TimeoutError) done(Outcome.ERROR, ErrorKind.TIMEOUT, err.attempts - 1);
        else done(Outcome.ERROR, this.closed ? this.closeKind : err instanceof KvError ? err.code.toLowerCase() : ErrorKind.CONNECTION, 0);
      },
    );
  }

  close(kind: string): Promise<void> {
    this.closeKind = kind;
    this.closed = true;
    this.ready = false;
    return this.client.close();
  }
}

function classify(r: UdpResult, done: Done): void {
  const retries = r.attempts - 1;
  if (r.status === Status.OK) done(Outcome.OK, null, retries);
  else if (r.status === Status.NOT_FOUND) done(Outcome.MISS, null, retries);
  else done(Outcome.ERROR, `server:${replyError(r.status, r.value).code}`, retries);
}

/**
 * Sends one PING and waits for its answer, so that a server that is not there is
 * reported within about a second, not after a whole run of timeouts. The OS's
 * ICMP port unreachable ends the wait at once.
 */
async function probe(host: string, port: number): Promise<void> {
  let unreachable = false;
  let wake: (() => void) | null = null;
  const client = await UdpClient.connect({
    host,
    port,
    udpKey: loadUdpKey(undefined) ?? undefined,
    timeoutMs: PROBE_TIMEOUT_MS,
    retries: PROBE_RETRIES,
    backoffFactor: 1,
    onEvent: (e) => {
      if (e.type === 'unreachable') {
        unreachable = true;
        wake?.();
      }
    },
  });
  try {
    const refused = new Promise<void>((resolve) => (wake = resolve));
    const result = await Promise.race([client.request(Opcode.PING).then((r) => r), refused.then(() => null)]);
    if (result === null || unreachable) {
      throw new KvError('CONNECTION', `nothing is listening on udp://${host}:${port} (the OS reported ICMP port unreachable); is kv-server running there? check --host and --port`);
    }
    if (result.status !== Status.OK) {
      throw new KvError('PROTOCOL', `udp://${host}:${port} answered PING with ${STATUS_NAMES[result.status] ?? result.status}; is it a dualkv server of the same protocol version?`);
    }
  } catch (err) {
    if (err instanceof TimeoutError) {
      throw new KvError('TIMEOUT', `no reply to PING from udp://${host}:${port} after ${err.attempts} attempts over ${Math.round(err.elapsedMs)} ms; is kv-server running there, and is this its UDP port?`, { cause: err });
    }
    throw err;
  } finally {
    await client.close();
  }
}

export async function openUdpTransport(share: LaneShare): Promise<Transport> {
  for (const s of share.servers) await probe(s.host, s.port);
  const lanes: UdpLane[] = [];
  for (let i = 0; i < share.lanes; i++) {
    const server = share.laneServers[i] as number;
    const depth = share.laneDepths[i] as number;
    const target = share.servers[server] as { host: string; port: number };
    const client = await UdpClient.connect({
      host: target.host,
      port: target.port,
      // KV_UDP_KEY (README "kv-bench"): every request signed, as an authenticated client sends it.
      udpKey: loadUdpKey(undefined) ?? undefined,
      timeoutMs: share.timeoutMs,
      retries: share.retries,
      maxInFlight: depth,
    });
    lanes.push(new UdpLane(depth, client, server));
  }
  return {
    lanes,
    close: (kind) => Promise.all(lanes.map((l) => l.close(kind))).then(() => undefined),
  };
}
