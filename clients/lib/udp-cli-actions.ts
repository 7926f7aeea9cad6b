import { datagramSize, Opcode, Status } from '../../src/protocol/datagram.js';
import { ExitCode, UsageError } from './cli-exit-codes.js';
import { quoteBytes, toJsonValue } from './cli-output.js';
import { parseInfo } from './resp-info.js';
import { PING_PAYLOAD, type UdpClient, type UdpClientEvent, type UdpResult } from './udp-client.js';
import { replyError } from './udp-errors.js';

/** What one kv-udp command produced, before it is printed (the same shape as kv-tcp's). */
export interface UdpActionResult {
  readonly exit: ExitCode;
  /** For stdout: `get` gives the raw value bytes. */
  readonly out?: string | Buffer;
  /** For stderr: the not-found note. */
  readonly note?: string;
  readonly json: Record<string, unknown>;
}

export type UdpCommand =
  | { readonly name: 'put'; readonly key: Buffer; readonly value: Buffer }
  | { readonly name: 'get' | 'del'; readonly key: Buffer }
  | { readonly name: 'ping' }
  | { readonly name: 'stats'; readonly section?: string };

function jsonKey(key: Buffer): Record<string, unknown> {
  const k = toJsonValue(key);
  return k.encoding === 'utf8' ? { key: k.value } : { key: k.value, keyEncoding: 'base64' };
}

/** Attempts and time, for --json: what UDP adds to kv-tcp's output. */
function cost(r: UdpResult): Record<string, unknown> {
  return { attempts: r.attempts, ms: Math.round(r.elapsedMs * 1000) / 1000 };
}

/** A reply that is neither OK nor (where it means something) NOT_FOUND is the server's error. */
function expect(r: UdpResult, notFoundOk: boolean): UdpResult {
  if (r.status === Status.OK || (notFoundOk && r.status === Status.NOT_FOUND)) return r;
  throw replyError(r.status, r.value);
}

/**
 * Refuses, before sending, a request that cannot fit in one datagram: large
 * values go over TCP, where the same key can be read and written.
 */
export function checkFits(cmd: UdpCommand, maxDatagramSize: number): void {
  if (cmd.name !== 'put' && cmd.name !== 'get' && cmd.name !== 'del') return;
  const size = datagramSize({ key: cmd.key, value: cmd.name === 'put' ? cmd.value : undefined });
  if (size > maxDatagramSize) {
    throw new UsageError(
      `a ${cmd.name} of ${size} bytes does not fit in one datagram (--max-datagram-size ${maxDatagramSize}); use kv-tcp for large values`,
    );
  }
}

/** Runs one command. Timeouts and error replies are thrown (TimeoutError, UdpReplyError). */
export async function runUdpAction(client: UdpClient, cmd: UdpCommand): Promise<UdpActionResult> {
  switch (cmd.name) {
    case 'put': {
      const r = expect(await client.request(Opcode.PUT, cmd.key, cmd.value), false);
      return { exit: ExitCode.OK, out: 'OK', json: { command: 'put', ...jsonKey(cmd.key), result: 'OK', ...cost(r) } };
    }
    case 'get': {
      const r = expect(await client.request(Opcode.GET, cmd.key), true);
      if (r.status === Status.NOT_FOUND) {
        return { exit: ExitCode.NOT_FOUND, note: `not found: ${quoteBytes(cmd.key)}`, json: { command: 'get', ...jsonKey(cmd.key), found: false, ...cost(r) } };
      }
      return { exit: ExitCode.OK, out: r.value, json: { command: 'get', ...jsonKey(cmd.key), found: true, ...toJsonValue(r.value), ...cost(r) } };
    }
    case 'del': {
      const r = expect(await client.request(Opcode.DEL, cmd.key), true);
      const deleted = r.status === Status.OK ? 1 : 0;
      return deleted
        ? { exit: ExitCode.OK, out: 'DELETED', json: { command: 'del', ...jsonKey(cmd.key), deleted, ...cost(r) } }
        : { exit: ExitCode.NOT_FOUND, note: `not found: ${quoteBytes(cmd.key)}`, json: { command: 'del', ...jsonKey(cmd.key), deleted, ...cost(r) } };
    }
    case 'ping': {
      const r = expect(await client.request(Opcode.PING, undefined, PING_PAYLOAD), false);
      const reply = r.value.toString('utf8');
      return { exit: ExitCode.OK, out: reply, json: { command: 'ping', result: reply, ...cost(r) } };
    }
    case 'stats': {
      const text = cmd.section ? await client.stats(cmd.section) : await client.allStats();
      return { exit: ExitCode.OK, out: text.replace(/\r\n/g, '\n').replace(/\n$/, ''), json: { command: 'stats', sections: parseInfo(text) } };
    }
  }
}

const hexId = (id: number) => `0x${id.toString(16).padStart(8, '0')}`;

/** One --verbose line per client event: every send and retry, every reply thrown away. */
export function describeEvent(e: UdpClientEvent): string {
  switch (e.type) {
    case 'send': {
      const why = e.reason === 'timeout' ? ' after a timeout' : e.reason === 'refused' ? ' at once (the server refused a damaged copy)' : e.reason === 'new-id' ? ' with a new ID' : '';
      return `-> ${e.op} id=${hexId(e.id)} attempt ${e.attempt}${why}; waiting up to ${e.waitMs} ms`;
    }
    case 'refused':
      return `<- id=${hexId(e.id)} refused by the server: ${e.status}${e.message ? ` (${e.message})` : ''}`;
    case 'bad-reply':
      return `<- rejected a ${e.size}-byte datagram: ${e.reason}: ${e.message}`;
    case 'unknown-reply':
      return `<- ignored a reply for id=${hexId(e.id)}: ${e.late ? 'a late or duplicate reply' : 'not a request of ours'}`;
    case 'unreachable':
      return '<- ICMP port unreachable: nothing is listening there (yet); retrying';
    case 'reply':
      return `<- id=${hexId(e.id)} ${e.status} after ${e.attempts} attempt${e.attempts === 1 ? '' : 's'} in ${e.elapsedMs.toFixed(2)} ms`;
  }
}
