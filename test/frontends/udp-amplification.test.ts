import { mkdirSync, rmSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Persistence } from '../../src/persistence/persistence.js';
import { realFileOps, type LogFileOps } from '../../src/persistence/log-io.js';
import { datagramCrc, decodeReply, encodeRequest, MIN_DATAGRAM_SIZE, Opcode, Status, STATUS_NAMES } from '../../src/protocol/datagram.js';
import { startTestServer as startTestServerOn, type TestServer, type TestServerOverrides } from '../helpers/server.js';
import { tempDir } from '../persistence/helpers.js';
import { RawUdp, stat, udpPeers, udpStats } from './udp-helpers.js';

/**
 * docs/PROTOCOL.md, udp "Amplification": no reply is larger than its request unless
 * the peer is allowed large replies (--udp-large-replies-to), and no error reply is
 * ever larger than its request, whoever the peer is.
 */

function withCrc(b: Buffer): Buffer {
  b.writeUInt32BE(datagramCrc(b, b.length - 4), b.length - 4);
  return b;
}

/** An error reply's text is `CODE message`, cut to fit: what is left must be a prefix of it. */
function expectCodePrefix(text: string, code: string): void {
  if (text.length > code.length) expect(text.startsWith(`${code} `), text).toBe(true);
  else expect(`${code} `.startsWith(text), text).toBe(true);
}

interface ErrorCase {
  readonly name: string;
  readonly request: () => Buffer;
  readonly status: number;
  /** The CODE the text starts with, when the request leaves room for it. */
  readonly code?: string;
  /** Sent first, e.g. the request whose ID the case reuses. */
  readonly before?: () => Buffer;
}

const ERROR_CASES: readonly ErrorCase[] = [
  {
    name: 'an oversize datagram',
    request: () => encodeRequest({ opcode: Opcode.PUT, id: 1, key: 'k', value: 'x'.repeat(300) }),
    status: Status.TOO_LARGE,
    code: 'DATAGRAM_TOO_LARGE',
  },
  {
    name: 'a bad checksum',
    request: () => {
      const b = encodeRequest({ opcode: Opcode.PUT, id: 2, key: 'k', value: 'v' });
      b[b.length - 6] = (b[b.length - 6] as number) ^ 0x01;
      return b;
    },
    status: Status.BAD_CHECKSUM,
    code: 'BAD_DATAGRAM',
  },
  {
    name: 'an unknown opcode',
    request: () => {
      const b = encodeRequest({ opcode: Opcode.PING, id: 3 });
      b[3] = 0x7f;
      return withCrc(b);
    },
    status: Status.UNKNOWN_OPCODE,
  },
  {
    name: 'a version the server does not speak',
    request: () => {
      const b = encodeRequest({ opcode: Opcode.GET, id: 4, key: 'k' });
      b[2] = 9;
      return withCrc(b);
    },
    status: Status.BAD_VERSION,
  },
  {
    name: 'lengths that do not add up',
    request: () => {
      const b = encodeRequest({ opcode: Opcode.GET, id: 5, key: 'kk' });
      b.writeUInt16BE(1, 12);
      return withCrc(b);
    },
    status: Status.MALFORMED,
  },
  {
    name: 'a key over --max-key-size in a short datagram (KEY_TOO_LARGE)',
    request: () => encodeRequest({ opcode: Opcode.GET, id: 6, key: 'kkkkk' }),
    status: Status.COMMAND_ERROR,
    code: 'KEY_TOO_LARGE',
  },
  {
    name: 'a key over --max-key-size with room for the code (KEY_TOO_LARGE)',
    request: () => encodeRequest({ opcode: Opcode.DEL, id: 7, key: 'k'.repeat(30) }),
    status: Status.COMMAND_ERROR,
    code: 'KEY_TOO_LARGE',
  },
  {
    name: 'a value over --max-value-size (VALUE_TOO_LARGE)',
    request: () => encodeRequest({ opcode: Opcode.PUT, id: 8, key: 'k', value: 'vvv' }),
    status: Status.COMMAND_ERROR,
    code: 'VALUE_TOO_LARGE',
  },
  {
    name: 'a reply that does not fit in a datagram (DATAGRAM_TOO_LARGE)',
    request: () => encodeRequest({ opcode: Opcode.GET, id: 9, key: 'big' }),
    status: Status.TOO_LARGE,
    code: 'DATAGRAM_TOO_LARGE',
  },
  {
    name: 'a request ID reused for a different request (ID_CONFLICT)',
    before: () => encodeRequest({ opcode: Opcode.PUT, id: 10, key: 'a', value: '1' }),
    request: () => encodeRequest({ opcode: Opcode.PUT, id: 10, key: 'b', value: '2' }),
    status: Status.ID_CONFLICT,
    code: 'ID_CONFLICT',
  },
];

describe('UDP error replies are never larger than their requests', () => {
  let srv: TestServer | null = null;
  let raw: RawUdp | null = null;
  let persistence: Persistence | null = null;
  let dir: string | null = null;
  afterEach(async () => {
    await raw?.close();
    await persistence?.stop(Date.now() + 5000).catch(() => undefined);
    await srv?.stop();
    if (dir !== null) rmSync(dir, { recursive: true, force: true });
    raw = srv = persistence = dir = null;
  });

  it.each(ERROR_CASES)('for $name', async (c) => {
    srv = await startTestServerOn({ limits: { maxKeySize: 4, maxValueSize: 2 }, udp: { maxDatagramSize: 200 } });
    srv.server.backend.put('big', 'y'.repeat(500));
    raw = await RawUdp.open();
    if (c.before) await raw.roundTrip(c.before(), srv.udpPort);
    const request = c.request();
    const buf = await raw.roundTrip(request, srv.udpPort);
    expect(buf.length).toBeLessThanOrEqual(request.length);
    const reply = decodeReply(buf);
    expect(STATUS_NAMES[reply.status]).toBe(STATUS_NAMES[c.status]);
    if (c.code) expectCodePrefix(reply.value.toString('utf8'), c.code);
  });

  it('for a server error (a store that fails under the command): SERVER_ERROR, cut to the request', async () => {
    srv = await startTestServerOn();
    srv.server.backend.setSink({
      writeBlocker: () => null,
      record: () => {
        throw new Error('the sink broke');
      },
      recordAll: () => {
        throw new Error('the sink broke');
      },
    });
    raw = await RawUdp.open();
    const request = encodeRequest({ opcode: Opcode.PUT, id: 1, key: 'k', value: 'v' });
    const buf = await raw.roundTrip(request, srv.udpPort);
    expect(buf.length).toBeLessThanOrEqual(request.length);
    expect(decodeReply(buf).status).toBe(Status.SERVER_ERROR);
  });

  it('for READ_ONLY with a long data-dir path, both "write not acknowledged" and the refusal after it; both cached', async () => {
    srv = await startTestServerOn();
    dir = tempDir('dualkv-udp-readonly-');
    const dataDir = path.join(dir, 'a-data-directory-with-a-rather-long-name'.repeat(4), 'and-then-some-more');
    mkdirSync(dataDir, { recursive: true });
    const disk = new FailingDisk();
    const lines = new LogLines();
    persistence = new Persistence(
      { dir: dataDir, fsync: 'always', snapshotIntervalSec: 0, repair: false, fileOps: disk },
      srv.server.backend,
      srv.server.stats,
      pino({ level: 'debug' }, lines),
    );
    await persistence.start();
    raw = await RawUdp.open();
    const ok = encodeRequest({ opcode: Opcode.PUT, id: 1, key: 'k', value: 'v' });
    expect(decodeReply(await raw.roundTrip(ok, srv.udpPort)).status).toBe(Status.OK);
    disk.failing = true;

    // Applied in memory, then the log failed: the message names the log file (in the long path).
    const first = encodeRequest({ opcode: Opcode.PUT, id: 2, key: 'k', value: 'w'.repeat(30) });
    const unacked = await raw.roundTrip(first, srv.udpPort);
    expect(unacked.length).toBeLessThanOrEqual(first.length);
    expect(decodeReply(unacked).status).toBe(Status.UNAVAILABLE);
    expectCodePrefix(decodeReply(unacked).value.toString('utf8'), 'READ_ONLY');
    expect(srv.server.backend.get('k')?.value).toBe('w'.repeat(30));
    // It changed the store, so a retry is answered from the cache, byte for byte.
    expect((await raw.roundTrip(first, srv.udpPort)).equals(unacked)).toBe(true);
    expect(stat(srv.server, 'udp_reply_cache_hits')).toBe(1);

    // Refused by the write check before anything was applied.
    const second = encodeRequest({ opcode: Opcode.PUT, id: 3, key: 'k', value: 'x'.repeat(30) });
    const refused = await raw.roundTrip(second, srv.udpPort);
    expect(refused.length).toBeLessThanOrEqual(second.length);
    expect(decodeReply(refused).status).toBe(Status.UNAVAILABLE);
    expect(srv.server.backend.get('k')?.value).toBe('w'.repeat(30));

    // The log recovers by itself. A copy of the refused PUT that the network delivers
    // late gets the refusal from the cache: applying it now would give the write an
    // effect after its client was told it had none.
    const recovered = lines.next('append-only log writes recovered; accepting writes again');
    disk.failing = false;
    await recovered;
    expect((await raw.roundTrip(second, srv.udpPort)).equals(refused)).toBe(true);
    expect(srv.server.backend.get('k')?.value).toBe('w'.repeat(30));
    expect(stat(srv.server, 'udp_reply_cache_hits')).toBe(2);
    // The client's own retry, with a new ID as UNAVAILABLE says, is applied.
    const again = encodeRequest({ opcode: Opcode.PUT, id: 4, key: 'k', value: 'x'.repeat(30) });
    expect(decodeReply(await raw.roundTrip(again, srv.udpPort)).status).toBe(Status.OK);
    expect(srv.server.backend.get('k')?.value).toBe('x'.repeat(30));
  });
});

/** A logger's lines as events, so a test waits for the one it needs. */
class LogLines extends Writable {
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) this.emit('line', JSON.parse(line) as { msg?: string });
    cb();
  }

  /** Resolves at the next line whose msg is `msg` (fails after `timeoutMs`, a safety net only). */
  next(msg: string, timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "${msg}" log line within ${timeoutMs} ms`)), timeoutMs);
      const on = (l: { msg?: string }) => {
        if (l.msg !== msg) return;
        clearTimeout(timer);
        this.off('line', on);
        resolve();
      };
      this.on('line', on);
    });
  }
}

/** The log's files, with writes that fail (EFBIG, as past RLIMIT_FSIZE) while `failing` is set, retries included. */
class FailingDisk implements LogFileOps {
  failing = false;

  private fail(): never {
    throw Object.assign(new Error('EFBIG: file too large, write'), { code: 'EFBIG' });
  }

  async open(p: string, flags: number): Promise<FileHandle> {
    const fh = await open(p, flags);
    return new Proxy(fh, {
      get: (target, prop) => {
        if (prop === 'write') {
          return (...args: Parameters<FileHandle['write']>) => (this.failing ? Promise.reject(this.fail()) : target.write(...args));
        }
        const v = Reflect.get(target, prop) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }

  writeSync(fh: FileHandle, data: Buffer, offset: number, length: number, position: number): number {
    if (this.failing) this.fail();
    return realFileOps.writeSync(fh, data, offset, length, position);
  }
}

// docs/PROTOCOL.md, udp "Amplification": replies larger than the request go only to --udp-large-replies-to.
describe.each(['batched', 'dgram'] as const)('UDP replies larger than their requests (--udp-io %s)', (io) => {
  let srv: TestServer | null = null;
  const startTestServer = (o: TestServerOverrides = {}) => startTestServerOn({ ...o, udp: { io, ...o.udp } });
  const open = udpPeers();
  afterEach(async () => {
    await srv?.stop();
    srv = null;
  });

  it('refuses STATS and a large GET to a peer outside --udp-large-replies-to with a reply no larger than the request; small replies still flow', async () => {
    srv = await startTestServer({ udp: { largeRepliesTo: ['127.0.0.2/32'] } });
    srv.server.backend.put('k', 'x'.repeat(100));
    const raw = await open('127.0.0.1');

    const stats = encodeRequest({ opcode: Opcode.STATS, id: 1 });
    const s = await raw.roundTrip(stats, srv.udpPort);
    expect(s.length).toBeLessThanOrEqual(stats.length);
    // A 22-byte request leaves no room for text: the status alone says what happened.
    expect(decodeReply(s)).toMatchObject({ id: 1, status: Status.TOO_LARGE });
    expect(decodeReply(s).value.length).toBe(0);

    const get = encodeRequest({ opcode: Opcode.GET, id: 2, key: 'k' });
    const g = await raw.roundTrip(get, srv.udpPort);
    expect(g.length).toBeLessThanOrEqual(get.length);
    expect(decodeReply(g).status).toBe(Status.TOO_LARGE);

    // With room, the text says what to do.
    srv.server.backend.put('L'.repeat(100), 'x'.repeat(300));
    const roomy = encodeRequest({ opcode: Opcode.GET, id: 3, key: 'L'.repeat(100) });
    const r = decodeReply(await raw.roundTrip(roomy, srv.udpPort));
    expect(r.status).toBe(Status.TOO_LARGE);
    expect(r.value.toString()).toMatch(/^DATAGRAM_TOO_LARGE .*TCP.*--udp-large-replies-to/);

    // Replies no larger than the request are sent as usual.
    expect(decodeReply(await raw.roundTrip(encodeRequest({ opcode: Opcode.PUT, id: 4, key: 'small', value: 'v' }), srv.udpPort)).status).toBe(Status.OK);
    const small = decodeReply(await raw.roundTrip(encodeRequest({ opcode: Opcode.GET, id: 5, key: 'small' }), srv.udpPort));
    expect(small).toMatchObject({ status: Status.OK });
    expect(small.value.toString()).toBe('v');
    expect(srv.server.backend.get('small')?.value).toBe('v');

    expect(stat(srv.server, 'udp_large_replies_refused')).toBe(3);
    const warn = srv.logs.find('large UDP reply refused');
    expect(warn.length).toBeGreaterThan(0);
    expect(warn[0]).toMatchObject({ level: 40, transport: 'udp', client: `127.0.0.1:${raw.port}`, request: stats.length });

    // The peer that is listed gets the whole answer.
    const listed = await open('127.0.0.2');
    const full = decodeReply(await listed.roundTrip(stats, srv.udpPort));
    expect(full.status).toBe(Status.OK);
    expect(full.value.toString()).toContain('# Server');
    expect(decodeReply(await listed.roundTrip(get, srv.udpPort)).value.toString()).toBe('x'.repeat(100));
  });

  it('rate-limits the warn lines about refused large replies, and counts every one', async () => {
    srv = await startTestServer({ udp: { largeRepliesTo: ['10.0.0.0/8'], rejectLogPerSecond: 2 } });
    const raw = await open('127.0.0.1');
    await raw.flood(srv.udpPort, 40, (i) => encodeRequest({ opcode: Opcode.STATS, id: i }));
    expect(stat(srv.server, 'udp_large_replies_refused')).toBe(40);
    expect(srv.logs.find('large UDP reply refused').length).toBeLessThan(40);
    expect(stat(srv.server, 'udp_reject_logs_suppressed')).toBeGreaterThan(0);
  });

  it('by default (loopback) sends large replies to 127.0.0.0/8 clients', async () => {
    srv = await startTestServer();
    for (const address of ['127.0.0.1', '127.0.0.2']) {
      const raw = await open(address);
      const reply = decodeReply(await raw.roundTrip(encodeRequest({ opcode: Opcode.STATS, id: 1 }), srv.udpPort));
      expect(reply.status).toBe(Status.OK);
      expect(reply.value.length).toBeGreaterThan(MIN_DATAGRAM_SIZE);
    }
    expect(udpStats(srv.server).udp_large_replies_refused).toBe(0);
  });

  it('by default (loopback) sends large replies to ::1', async () => {
    srv = await startTestServer({ host: '::1' });
    const raw = await open('::1');
    const reply = decodeReply(await raw.roundTrip(encodeRequest({ opcode: Opcode.PING, id: 1 }), srv.udpPort));
    expect(reply).toMatchObject({ status: Status.OK });
    expect(reply.value.toString()).toBe('PONG');
  });
});
