import { afterEach, describe, expect, it } from 'vitest';
import { decodeReply, decodeRequest, encodeReply, encodeRequest, Opcode, Status, type Opcode as OpcodeT, type Status as StatusT } from '../../src/protocol/datagram.js';
import { DatagramError } from '../../src/protocol/datagram-error.js';
import { requestArgs } from '../../src/protocol/datagram-opcodes.js';
import { RawUdp } from '../frontends/udp-helpers.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { readVectors, type Vector } from './datagram-vectors.js';

const vectors = readVectors();
const opcode = (name: string | undefined) => Opcode[name as keyof typeof Opcode] as OpcodeT;
const status = (name: string | undefined) => Status[name as keyof typeof Status] as StatusT;
const extensions = (v: Vector) => v.meta.extensions?.map((e) => ({ type: e.type, data: Buffer.from(e.data, 'hex') }));
const hexExtensions = (exts: readonly { type: number; data: Uint8Array }[]) => exts.map((e) => ({ type: e.type, data: Buffer.from(e.data).toString('hex') }));
const big = (n: number | undefined) => (n === undefined ? null : BigInt(n));

describe('docs/PROTOCOL.md test vectors', () => {
  it('has the vectors the protocol page promises: PUT, GET hit, GET miss, DEL, PING, an error reply', () => {
    expect(vectors.map((v) => v.name)).toEqual(
      expect.arrayContaining(['put-request', 'put-reply', 'get-hit-reply', 'get-miss-reply', 'del-request', 'del-reply', 'bad-checksum-reply']),
    );
  });

  it('has the expiry and compare-and-set vectors: PUT with TTL, a CAS PUT, a conflict, GET with WANT_VERSION, EXPIRE', () => {
    expect(vectors.map((v) => v.name)).toEqual(
      expect.arrayContaining(['put-ttl-request', 'cas-put-request', 'cas-put-reply', 'cas-conflict-reply', 'getver-request', 'getver-reply', 'getver-expiring-reply', 'expire-request']),
    );
  });

  for (const v of vectors) {
    it(`${v.name}: decodes to the fields in its comment and encodes back to the same bytes`, () => {
      const m = v.meta;
      if (m.refused !== undefined) {
        let thrown: unknown;
        try {
          decodeRequest(v.bytes);
        } catch (err) {
          thrown = err;
        }
        expect(thrown).toBeInstanceOf(DatagramError);
        expect(thrown).toMatchObject({ code: 'BAD_DATAGRAM', reason: m.refused, header: { id: m.id } });
        return;
      }
      if (m.kind === 'request') {
        const d = decodeRequest(v.bytes);
        expect({ opcode: d.opcode, id: d.id, key: d.key.toString('latin1'), value: d.value.toString('latin1') }).toEqual({
          opcode: opcode(m.opcode),
          id: m.id,
          key: m.key,
          value: m.value,
        });
        expect(hexExtensions(d.extensions)).toEqual(m.extensions ?? []);
        if (m.runs !== undefined) expect(requestArgs(d.opcode, d.key.toString('latin1'), d.value.toString('latin1'), d.options)).toEqual(m.runs);
        const again = encodeRequest({ opcode: opcode(m.opcode), id: m.id, key: m.key, value: m.value, extensions: extensions(v) });
        expect(again.toString('hex')).toBe(v.bytes.toString('hex'));
      } else {
        const d = decodeReply(v.bytes);
        expect({ opcode: d.opcode, id: d.id, status: d.status, value: d.value.toString('latin1') }).toEqual({
          opcode: opcode(m.opcode),
          id: m.id,
          status: status(m.status),
          value: m.value,
        });
        expect(hexExtensions(d.extensions)).toEqual(m.extensions ?? []);
        expect(d.details).toEqual({ version: big(m.version), expiresAt: big(m.expiresAt), auth: null });
        const again = encodeReply({ opcode: opcode(m.opcode), id: m.id, status: status(m.status), value: m.value, extensions: extensions(v) });
        expect(again.toString('hex')).toBe(v.bytes.toString('hex'));
      }
    });
  }

  // The datagram counterpart of "every chunking" for stream codecs: a datagram
  // arrives whole or not at all, so every cut and every single-bit flip is tried.
  for (const v of vectors.filter((x) => x.meta.refused === undefined)) {
    it(`${v.name}: every truncation and every single-bit flip is refused`, () => {
      const decode = v.meta.kind === 'request' ? decodeRequest : decodeReply;
      for (let n = 0; n < v.bytes.length; n++) expect(() => decode(v.bytes.subarray(0, n))).toThrow(DatagramError);
      for (let bit = 0; bit < v.bytes.length * 8; bit++) {
        const b = Buffer.from(v.bytes);
        b[bit >> 3] = (b[bit >> 3] as number) ^ (0x80 >> (bit & 7));
        let reason = '';
        try {
          decode(b);
        } catch (err) {
          reason = (err as DatagramError).reason;
        }
        expect(['bad_checksum', 'bad_magic']).toContain(reason);
      }
    });
  }
});

describe('a live server answers the request vectors with the reply vectors, byte for byte', () => {
  let srv: TestServer;
  let raw: RawUdp;
  afterEach(async () => {
    await raw?.close();
    await srv?.stop();
  });

  it('in the order of the page', async () => {
    srv = await startTestServer();
    raw = await RawUdp.open();
    const byName = new Map(vectors.map((v) => [v.name, v]));
    const replies = vectors.filter((v) => v.meta.answers !== undefined);
    expect(replies.length).toBeGreaterThanOrEqual(6);
    for (const reply of replies) {
      const request = byName.get(reply.meta.answers as string) as Vector;
      const got = await raw.roundTrip(request.bytes, srv.udpPort);
      expect({ request: request.name, reply: got.toString('hex') }).toEqual({ request: request.name, reply: reply.bytes.toString('hex') });
    }
  });
});
