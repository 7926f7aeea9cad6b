/**
 * Issue 14's HMAC cost, per datagram and without sockets: what each codec step of a
 * GET costs signed (docs/PROTOCOL.md "Authenticated datagrams") and unsigned, on the
 * server (decode and verify the request, encode and sign the reply) and on the client
 * (encode and sign the request, decode and check the reply). Prints nanoseconds per
 * datagram, the median of --rounds interleaved rounds. Figures only.
 *
 *   npm run -s build && node dist/bench/udp-auth-codec.js [--rounds 7] [--iterations 200000] [--node-hmac] [--dist /other/checkout/dist]
 */
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { fmt, printTable } from './lib/procs.js';
import type { SigningKey } from '../src/protocol/datagram-auth.js';

const argv = await yargs(hideBin(process.argv))
  .option('rounds', { type: 'number', default: 7 })
  .option('iterations', { type: 'number', default: 200_000 })
  .option('node-hmac', { type: 'boolean', default: false, describe: 'node:crypto instead of the native HMAC' })
  .option('dist', { type: 'string', describe: "another checkout's built dist/ to measure (one from before the single-pass encoders too)" })
  .strict()
  .parse();

// The codec is loaded from --dist when given, so that an older build runs the same steps in its own process.
const dist = argv.dist === undefined ? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..') : path.resolve(argv.dist);
const load = async <T>(file: string): Promise<T> => (await import(pathToFileURL(path.join(dist, 'src', file)).href)) as T;
type Datagram = typeof import('../src/protocol/datagram.js');
type Auth = typeof import('../src/protocol/datagram-auth.js');
type Exts = typeof import('../src/protocol/datagram-extensions.js');
const { nativeHmacEngine } = await load<typeof import('../src/frontends/udp/udp-io.js')>('frontends/udp/udp-io.js');
const { decodeReply, decodeRequest, encodeReply, encodeRequest, Opcode, Status } = await load<Datagram>('protocol/datagram.js');
const authCodec = await load<Partial<Auth> & Omit<Auth, 'encodeSignedReply'>>('protocol/datagram-auth.js');
const { encodeSignedRequest, macKey, macMatches, replySigned, signDatagram, useHmacEngine } = authCodec;
const { replyAuthExtension, ReplyExtension, requestAuthExtension, RequestExtension } = await load<Exts>('protocol/datagram-extensions.js');

if (!argv['node-hmac']) useHmacEngine(nativeHmacEngine());
const key: SigningKey = { id: 1, key: macKey(Buffer.alloc(32, 0x5a)) };
const value = 'v'.repeat(100);
const auth = { sender: 0x01020304, timestamp: Date.now(), sequence: 12345n };
const plainRequest = encodeRequest({ opcode: Opcode.GET, id: 7, key: 'key:00001234' });
const signedRequest = encodeSignedRequest({ opcode: Opcode.GET, id: 7, key: 'key:00001234' }, auth, key);
const plainReply = encodeReply({ opcode: Opcode.GET, id: 7, status: Status.OK, value });
// The two-pass encoders the single-pass ones replaced: encode with AUTH appended, then sign by finding it again.
const twoPassReply = () =>
  signDatagram(encodeReply({ opcode: Opcode.GET, id: 7, status: Status.OK, value, extensions: [replyAuthExtension(1, 12345n)] }), ReplyExtension.AUTH, key.key);
const { encodeSignedReply } = authCodec;
// A build from before encodeSignedReply signs its replies the two-pass way, as its server did.
const signReply =
  encodeSignedReply === undefined ? twoPassReply : () => encodeSignedReply({ opcode: Opcode.GET, id: 7, status: Status.OK, value }, { keyId: 1, sequence: 12345n }, key.key);
const signedReply = signReply();
const twoPassRequest = () =>
  signDatagram(encodeRequest({ opcode: Opcode.GET, id: 7, key: 'key:00001234', extensions: [requestAuthExtension({ keyId: 1, ...auth })] }), RequestExtension.AUTH, key.key);

let sink = 0;
const steps: Record<string, () => void> = {
  'server: decode request (plain)': () => {
    sink += decodeRequest(plainRequest).id;
  },
  'server: decode + verify request (signed)': () => {
    const d = decodeRequest(signedRequest);
    const a = d.options.auth;
    if (a === null || !macMatches(signedRequest, a.mac, key.key)) throw new Error('bad MAC');
    sink += d.id;
  },
  'server: encode reply (plain)': () => {
    sink += encodeReply({ opcode: Opcode.GET, id: 7, status: Status.OK, value }).length;
  },
  'server: encode + sign reply (signed)': () => {
    sink += signReply().length;
  },
  'server: encode, then sign reply (two-pass)': () => {
    sink += twoPassReply().length;
  },
  'client: encode request (plain)': () => {
    sink += encodeRequest({ opcode: Opcode.GET, id: 7, key: 'key:00001234' }).length;
  },
  'client: encode + sign request (signed)': () => {
    sink += encodeSignedRequest({ opcode: Opcode.GET, id: 7, key: 'key:00001234' }, auth, key).length;
  },
  'client: encode, then sign request (two-pass)': () => {
    sink += twoPassRequest().length;
  },
  'client: decode reply (plain)': () => {
    sink += decodeReply(plainReply).id;
  },
  'client: decode + check reply (signed)': () => {
    const d = decodeReply(signedReply);
    if (!replySigned(signedReply, d.details.auth, key, 12345n, 12345n)) throw new Error('bad MAC');
    sink += d.id;
  },
};

const times = new Map<string, number[]>();
for (let round = 0; round < argv.rounds; round++) {
  for (const [name, step] of Object.entries(steps)) {
    for (let i = 0; i < 10_000; i++) step();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < argv.iterations; i++) step();
    const ns = Number(process.hrtime.bigint() - t0) / argv.iterations;
    times.set(name, [...(times.get(name) ?? []), ns]);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
console.log(`# ${dist}: ns per datagram, median of ${argv.rounds} interleaved rounds of ${fmt(argv.iterations)} (${argv['node-hmac'] ? 'node:crypto' : 'native'} HMAC)\n`);
printTable(
  ['step', 'ns', 'min', 'max'],
  [...times].map(([name, xs]) => [name, fmt(median(xs)), fmt(Math.min(...xs)), fmt(Math.max(...xs))]),
);
const m = (name: string) => median(times.get(name) as number[]);
const extra = m('server: decode + verify request (signed)') - m('server: decode request (plain)') + m('server: encode + sign reply (signed)') - m('server: encode reply (plain)');
const clientExtra = m('client: encode + sign request (signed)') - m('client: encode request (plain)') + m('client: decode + check reply (signed)') - m('client: decode reply (plain)');
console.log(`\nsigning adds ${fmt(extra)} ns per GET on the server, ${fmt(clientExtra)} ns on the client (checksum ${sink % 10})`);
