import { datagramSize, Opcode, Status, type Extension } from '../../src/protocol/datagram.js';
import { ExitCode, UsageError } from './cli-exit-codes.js';
import { quoteBytes, toJsonValue } from './cli-output.js';
import { parseInfo } from './resp-info.js';
import {
  casExtensions,
  casResult,
  expireExtensions,
  expiryExtensions,
  found,
  PING_PAYLOAD,
  versionedValue,
  WANT_VERSION,
  type UdpClient,
  type UdpClientEvent,
  type UdpResult,
} from './udp-client.js';
import type { ExpiryOptions } from './udp-client-options.js';
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
  | ({ readonly name: 'put'; readonly key: Buffer; readonly value: Buffer } & ExpiryOptions)
  | { readonly name: 'get' | 'del' | 'getver' | 'persist'; readonly key: Buffer }
  | ({ readonly name: 'cas'; readonly key: Buffer; readonly version: number; readonly value: Buffer } & ExpiryOptions)
  | { readonly name: 'cad'; readonly key: Buffer; readonly version: number }
  | { readonly name: 'expire'; readonly key: Buffer; readonly ttlMs: number }
  | { readonly name: 'ping' }
  | { readonly name: 'stats'; readonly section?: string };

type KeyCommand = Exclude<UdpCommand, { name: 'ping' | 'stats' }>;

/** The request a key command sends (docs/PROTOCOL.md, udp "Opcodes" and "Extensions"). */
function requestOf(cmd: KeyCommand): { opcode: Opcode; value?: Buffer; extensions?: readonly Extension[] } {
  switch (cmd.name) {
    case 'put':
      return { opcode: Opcode.PUT, value: cmd.value, extensions: expiryExtensions(cmd) };
    case 'get':
      return { opcode: Opcode.GET };
    case 'getver':
      return { opcode: Opcode.GET, extensions: WANT_VERSION };
    case 'del':
      return { opcode: Opcode.DEL };
    case 'cas':
      return { opcode: Opcode.PUT, value: cmd.value, extensions: casExtensions(cmd.version, cmd) };
    case 'cad':
      return { opcode: Opcode.DEL, extensions: casExtensions(cmd.version) };
    case 'expire':
      return { opcode: Opcode.EXPIRE, extensions: expireExtensions(cmd.ttlMs) };
    case 'persist':
      return { opcode: Opcode.EXPIRE, extensions: expireExtensions(null) };
  }
}

function jsonKey(key: Buffer): Record<string, unknown> {
  const k = toJsonValue(key);
  return k.encoding === 'utf8' ? { key: k.value } : { key: k.value, keyEncoding: 'base64' };
}

/** Attempts and time, for --json: what UDP adds to kv-tcp's output. */
function cost(r: UdpResult): Record<string, unknown> {
  return { attempts: r.attempts, ms: Math.round(r.elapsedMs * 1000) / 1000, ...(r.server === undefined ? {} : { server: r.server }) };
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
  if (cmd.name === 'ping' || cmd.name === 'stats') return;
  const size = datagramSize({ key: cmd.key, ...requestOf(cmd) });
  if (size > maxDatagramSize) {
    throw new UsageError(
      `a ${cmd.name} of ${size} bytes does not fit in one datagram (--max-datagram-size ${maxDatagramSize}); use kv-tcp for large values`,
    );
  }
}

/** Runs one command. Timeouts and error replies are thrown (TimeoutError, UdpReplyError). */
export async function runUdpAction(client: UdpClient, cmd: UdpCommand): Promise<UdpActionResult> {
  if (cmd.name === 'ping' || cmd.name === 'stats') return runKeyless(client, cmd);
  const req = requestOf(cmd);
  const r = await client.request(req.opcode, cmd.key, req.value, req.extensions);
  const key = jsonKey(cmd.key);
  const notFound = (json: Record<string, unknown>, note = `not found: ${quoteBytes(cmd.key)}`): UdpActionResult => ({
    exit: ExitCode.NOT_FOUND,
    note,
    json: { command: cmd.name, ...key, ...json, ...cost(r) },
  });
  switch (cmd.name) {
    case 'put':
      expect(r, false);
      return { exit: ExitCode.OK, out: 'OK', json: { command: 'put', ...key, result: 'OK', ...cost(r) } };
    case 'get':
      if (expect(r, true).status === Status.NOT_FOUND) return notFound({ found: false });
      return { exit: ExitCode.OK, out: r.value, json: { command: 'get', ...key, found: true, ...toJsonValue(r.value), ...cost(r) } };
    case 'getver': {
      // The version on a line of its own, then the value: `head -n1` gives what `cas` takes.
      const v = versionedValue(r);
      if (v === null) return notFound({ found: false });
      const expiry = v.expiresAt === 0 ? {} : { expiresAt: v.expiresAt };
      return {
        exit: ExitCode.OK,
        out: Buffer.concat([Buffer.from(`${v.version}\n`), v.value]),
        json: { command: 'getver', ...key, found: true, version: v.version, ...expiry, ...toJsonValue(v.value), ...cost(r) },
      };
    }
    case 'del':
      if (!found(r)) return notFound({ deleted: 0 });
      return { exit: ExitCode.OK, out: 'DELETED', json: { command: 'del', ...key, deleted: 1, ...cost(r) } };
    case 'cas':
    case 'cad': {
      const c = casResult(r);
      const json = { command: cmd.name, ...key, applied: c.applied, version: c.version, ...cost(r) };
      // Applied: the new version alone, for the next cas.
      if (c.applied) return { exit: ExitCode.OK, out: cmd.name === 'cas' ? String(c.version) : 'DELETED', json };
      const now = c.version === 0 ? 'does not exist' : `is at version ${c.version}`;
      return { exit: ExitCode.CONFLICT, note: `conflict: ${quoteBytes(cmd.key)} ${now}; nothing changed`, json };
    }
    case 'expire':
    case 'persist': {
      if (found(r)) return { exit: ExitCode.OK, out: 'OK', json: { command: cmd.name, ...key, result: 'OK', ...cost(r) } };
      const why = cmd.name === 'persist' ? `not found, or no expiry to remove: ${quoteBytes(cmd.key)}` : undefined;
      return notFound({ result: 'NOT_FOUND' }, why);
    }
  }
}

async function runKeyless(client: UdpClient, cmd: Extract<UdpCommand, { name: 'ping' | 'stats' }>): Promise<UdpActionResult> {
  switch (cmd.name) {
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
      return `-> ${e.op} id=${hexId(e.id)} attempt ${e.attempt}${why}${e.server === undefined ? '' : ` to ${e.server}`}; waiting up to ${e.waitMs} ms`;
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
      return `<- id=${hexId(e.id)} ${e.status}${e.server === undefined ? '' : ` from ${e.server}`} after ${e.attempts} attempt${e.attempts === 1 ? '' : 's'} in ${e.elapsedMs.toFixed(2)} ms`;
  }
}
