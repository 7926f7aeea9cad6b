import { mkdirSync, rmSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Persistence } from '../../src/persistence/persistence.js';
import { realFileOps, type LogFileOps } from '../../src/persistence/log-io.js';
import { datagramCrc, decodeReply, encodeRequest, Opcode, Status, STATUS_NAMES } from '../../src/protocol/datagram.js';
import { startTestServer as startTestServerOn, type TestServer } from '../helpers/server.js';
import { tempDir } from '../persistence/helpers.js';
import { RawUdp } from './udp-helpers.js';

/** docs/PROTOCOL.md, udp "Amplification": no error reply is ever larger than its request. */

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
    await persistence?.stop().catch(() => undefined);
    await srv?.stop();
    if (dir !== null) rmSync(dir, { recursive: true, force: true });
    raw = srv = persistence = dir = null;
  });

  it.each(ERROR_CASES)('for $name', async (c) => {
    srv = await startTestServerOn({ limits: { maxKeySize: 4, maxValueSize: 2 }, udp: { maxDatagramSize: 200 } });
    srv.server.store.put('big', 'y'.repeat(500));
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
    srv.server.store.setSink({
      writeBlocker: () => null,
      record: () => {
        throw new Error('the sink broke');
      },
    });
    raw = await RawUdp.open();
    const request = encodeRequest({ opcode: Opcode.PUT, id: 1, key: 'k', value: 'v' });
    const buf = await raw.roundTrip(request, srv.udpPort);
    expect(buf.length).toBeLessThanOrEqual(request.length);
    expect(decodeReply(buf).status).toBe(Status.SERVER_ERROR);
  });

  it('for READ_ONLY with a long data-dir path, both "write not acknowledged" and the refusal after it', async () => {
    srv = await startTestServerOn();
    dir = tempDir('dualkv-udp-readonly-');
    const dataDir = path.join(dir, 'a-data-directory-with-a-rather-long-name'.repeat(4), 'and-then-some-more');
    mkdirSync(dataDir, { recursive: true });
    const disk = new FailingDisk();
    persistence = new Persistence(
      { dir: dataDir, fsync: 'always', snapshotIntervalSec: 0, repair: false, fileOps: disk },
      srv.server.store,
      srv.server.stats,
      srv.log.child({ component: 'persistence' }),
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
    expect(srv.server.store.get('k')).toBe('w'.repeat(30));

    // Refused by the write check before anything was applied.
    const second = encodeRequest({ opcode: Opcode.PUT, id: 3, key: 'k', value: 'x'.repeat(30) });
    const refused = await raw.roundTrip(second, srv.udpPort);
    expect(refused.length).toBeLessThanOrEqual(second.length);
    expect(decodeReply(refused).status).toBe(Status.UNAVAILABLE);
    expect(srv.server.store.get('k')).toBe('w'.repeat(30));
  });
});

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
