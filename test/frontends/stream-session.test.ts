import { UNRESTRICTED } from '../../src/commands/access.js';
import type { AuthUser } from '../../src/commands/types.js';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { KvError } from '../../src/errors.js';
import { errorReply, NIL, OK, PONG, type Reply } from '../../src/protocol/reply.js';
import type { DecoderLimits } from '../../src/protocol/sink.js';
import { StreamSession, type RunCommand, type SessionOutput } from '../../src/frontends/tcp/stream-session.js';
import { ServerStats } from '../../src/stats.js';
import { LogCapture } from '../helpers/server.js';
import { chunkings } from '../protocol/feed.js';
import { multibulk } from './resp-reader.js';

const LIMITS: DecoderLimits = { maxArgBytes: 1 << 20, maxArgs: 1024, maxLineBytes: 4096, maxRequestBytes: 1 << 20 };

/** A SessionOutput that keeps every chunk; while `accepting` is false, write() asks the session to wait. */
class Collector implements SessionOutput {
  readonly chunks: Buffer[] = [];
  accepting = true;
  ended = false;
  changes = 0;

  write(bytes: Buffer): boolean {
    if (this.ended) throw new Error('written after end()');
    this.chunks.push(bytes);
    return this.accepting;
  }

  end(): void {
    this.ended = true;
  }

  changed(): void {
    this.changes++;
  }

  get text(): string {
    return Buffer.concat(this.chunks).toString('latin1');
  }
}

/** A few commands over a Map, answered at once; QUIT sets `closing` as the real one does. */
function mapRunner(): { run: RunCommand; calls: string[][] } {
  const data = new Map<string, string>();
  const calls: string[][] = [];
  const run: RunCommand = (session, args) => {
    calls.push([...args]);
    const [name = '', key = '', value = ''] = args;
    switch (name.toUpperCase()) {
      case 'PING':
        return PONG;
      case 'PUT':
      case 'SET':
        data.set(key, value);
        return OK;
      case 'GET': {
        const v = data.get(key);
        return v === undefined ? NIL : { t: 'bulk', v };
      }
      case 'QUIT':
        session.closing = true;
        return OK;
      default:
        return errorReply(new KvError('UNKNOWN_COMMAND', `unknown command '${name}'`));
    }
  };
  return { run, calls };
}

/** A runner whose every reply is a promise the test settles, in whatever order it likes. */
function heldRunner(): { run: RunCommand; calls: Array<{ args: string[]; answer: (r: Reply) => void; fail: (err: unknown) => void }> } {
  const calls: Array<{ args: string[]; answer: (r: Reply) => void; fail: (err: unknown) => void }> = [];
  const run: RunCommand = (_session, args) =>
    new Promise<Reply>((answer, fail) => {
      calls.push({ args: [...args], answer, fail });
    });
  return { run, calls };
}

function open(run: RunCommand, options: { holdBytes?: number; limits?: Partial<DecoderLimits>; user?: AuthUser | null; oneAtATime?: boolean } = {}) {
  const out = new Collector();
  const stats = new ServerStats();
  const logs = new LogCapture();
  const session = new StreamSession({
    id: 7,
    client: '127.0.0.1:40000',
    run,
    output: out,
    stats,
    log: pino({ level: 'debug' }, logs),
    opLog: null,
    limits: { ...LIMITS, ...options.limits },
    user: options.user === undefined ? UNRESTRICTED : options.user,
    holdBytes: options.holdBytes,
    oneAtATime: options.oneAtATime,
  });
  return { session, out, stats, logs };
}

/** Lets settled promises run their callbacks (the session's .then), with no timer. */
const settled = () => new Promise<void>((resolve) => setImmediate(resolve));

const bulk = (v: string): Reply => ({ t: 'bulk', v });
const resp = (...requests: string[][]) => Buffer.concat(requests.map((words) => multibulk(...words)));

describe('StreamSession: bytes in, bytes out, no socket', () => {
  it('speaks the text dialect when the first byte is not `*`, and carries the Session fields', () => {
    const { run } = mapRunner();
    const { session, out, stats } = open(run);
    const input = Buffer.from('PUT k v\nGET k\nGET nope\nPING\n');
    session.feed(input);
    expect(out.text).toBe('OK\nVALUE v\nNOT_FOUND\nPONG\n');
    expect(out.chunks).toHaveLength(1); // one read's replies leave in one write
    expect(session).toMatchObject({ transport: 'tcp', dialect: { name: 'text' }, client: '127.0.0.1:40000', id: 7, name: '', closing: false, opLog: null });
    expect(stats.bytesIn).toBe(input.length);
    expect(stats.bytesOut).toBe(out.text.length);
  });

  it('speaks RESP2 when the first byte is `*`', () => {
    const { run } = mapRunner();
    const { session, out } = open(run);
    session.feed(resp(['SET', 'k', 'v\r\n'], ['GET', 'k'], ['GET', 'nope'], ['NOPE']));
    expect(out.text).toBe(
      '+OK\r\n' + // SET
        '$3\r\nv\r\n\r\n' + // GET k: the value holds a CRLF
        '$-1\r\n' + // GET nope
        "-ERR unknown command 'NOPE'\r\n",
    );
    expect(session.dialect.name).toBe('resp');
  });

  const PIPELINES = [
    { dialect: 'text', bytes: Buffer.from('PUT a 1\nGET a\r\nPING\n\nGET b\nPUT b two words\nGET b\n'), replies: 'OK\nVALUE 1\nPONG\nNOT_FOUND\nOK\nVALUE two words\n' },
    {
      dialect: 'resp',
      bytes: resp(['SET', 'a', '1'], ['GET', 'a'], ['PING'], ['GET', 'b'], ['SET', 'b', 'x'.repeat(40)], ['GET', 'b']),
      replies: `+OK\r\n$1\r\n1\r\n+PONG\r\n$-1\r\n+OK\r\n$40\r\n${'x'.repeat(40)}\r\n`,
    },
    {
      // docs/PROTOCOL.md: a first line that ends in CRLF is a Redis inline command (split anywhere, its CR and LF too).
      dialect: 'resp (opened by an inline command)',
      bytes: Buffer.from('PING\r\nSET a 1\r\nGET a\r\nGET b\r\nSET b "two words"\r\nGET b\r\n'),
      replies: '+PONG\r\n+OK\r\n$1\r\n1\r\n$-1\r\n+OK\r\n$9\r\ntwo words\r\n',
    },
  ];

  it('holds a first line until it ends; one that never does is read as text when the input ends', () => {
    const { run, calls } = mapRunner();
    const { session, out } = open(run);
    session.feed(Buffer.from('PUT k a'));
    session.feed(Buffer.from(' b'));
    expect(calls).toHaveLength(0);
    expect(session.queryBytes).toBe(9);
    session.feed(Buffer.from('\nGET k'));
    expect(out.text).toBe('OK\n');
    expect(session.dialect.name).toBe('text');
    const other = open(mapRunner().run);
    other.session.feed(Buffer.from('PING'));
    other.session.endInput();
    expect(other.session.dialect.name).toBe('text');
    expect(other.out.ended).toBe(true);
  });

  for (const { dialect, bytes, replies } of PIPELINES) {
    it(`answers a ${dialect} pipeline the same, byte for byte, however it is split`, () => {
      for (const { how, chunks } of chunkings(bytes)) {
        const { run, calls } = mapRunner();
        const { session, out } = open(run);
        for (const chunk of chunks) session.feed(chunk);
        expect(out.text, `fed ${how}`).toBe(replies);
        expect(calls, `fed ${how}`).toHaveLength(6);
        expect(session.idle).toBe(true);
      }
    });
  }
});

describe('StreamSession: order, with replies that come later', () => {
  it('with oneAtATime (a remote backend) runs each request only once the one before has answered, in order', async () => {
    const { run, calls } = heldRunner();
    const { session, out } = open(run, { oneAtATime: true });
    session.feed(resp(['SET', 'a', '1'], ['GET', 'a'], ['GET', 'b']));
    // The GETs wait: the SET's promise is the SET itself, not applied yet.
    expect(calls.map((c) => c.args[0])).toEqual(['SET']);
    calls[0]?.answer(OK);
    await settled();
    expect(calls.map((c) => c.args.join(' '))).toEqual(['SET a 1', 'GET a']);
    expect(out.text).toBe('+OK\r\n');
    calls[1]?.answer(bulk('1'));
    await settled();
    expect(calls).toHaveLength(3);
    calls[2]?.fail(new KvError('BACKEND_UNAVAILABLE', 'gone'));
    await settled();
    expect(out.text).toBe('+OK\r\n$1\r\n1\r\n-CLUSTERDOWN gone\r\n');
    expect(session.idle).toBe(true);
  });

  it('runs requests in order and sends their replies in order when the runner answers in reverse order', async () => {
    const { run, calls } = heldRunner();
    const { session, out } = open(run);
    const N = 8;
    session.feed(resp(...Array.from({ length: N }, (_, i) => ['GET', `key${i}`])));
    // Every request ran at once, in order; none has its reply yet.
    expect(calls.map((c) => c.args[1])).toEqual(Array.from({ length: N }, (_, i) => `key${i}`));
    for (let i = N - 1; i >= 1; i--) calls[i]?.answer(bulk(`value of key${i}`));
    await settled();
    expect(out.text).toBe(''); // all but the first are ready, and wait for it
    expect(session.idle).toBe(false);
    calls[0]?.answer(bulk('value of key0'));
    await settled();
    const want = Array.from({ length: N }, (_, i) => `$${`value of key${i}`.length}\r\nvalue of key${i}\r\n`).join('');
    expect(out.text).toBe(want);
    expect(session.idle).toBe(true);
  });

  it('keeps a mix of replies at once and replies later in request order, whichever settles first', async () => {
    const requests = ['S1', 'A1', 'S2', 'S3', 'A2', 'S4', 'A3', 'S5'];
    for (const order of [
      ['A1', 'A2', 'A3'],
      ['A3', 'A2', 'A1'],
      ['A2', 'A3', 'A1'],
      ['A1', 'A3', 'A2'],
    ]) {
      const later = new Map<string, (r: Reply) => void>();
      const run: RunCommand = (_s, args) => {
        const word = args[0] as string;
        if (!word.startsWith('A')) return { t: 'status', s: word };
        return new Promise<Reply>((resolve) => later.set(word, resolve));
      };
      const { session, out } = open(run);
      session.feed(Buffer.from(requests.map((r) => r + '\n').join('')));
      const answered = new Set<string>();
      // What may have left: every reply up to the first that is still to come.
      const prefix = () => {
        const stop = requests.findIndex((r) => r.startsWith('A') && !answered.has(r));
        return requests.slice(0, stop < 0 ? requests.length : stop).map((r) => r + '\n').join('');
      };
      expect(out.text).toBe('S1\n');
      for (const a of order) {
        later.get(a)?.({ t: 'status', s: a });
        answered.add(a);
        await settled();
        expect(out.text, `after ${[...answered].join(', ')}`).toBe(prefix());
      }
      expect(out.text).toBe('S1\nA1\nS2\nS3\nA2\nS4\nA3\nS5\n');
    }
  });

  it('answers a reply promise that rejects with an error in its place, and goes on', async () => {
    const { run, calls } = heldRunner();
    const { session, out } = open(run);
    session.feed(resp(['GET', 'a'], ['GET', 'b'], ['GET', 'c']));
    calls[2]?.answer(bulk('c'));
    calls[1]?.fail(new Error('disk on fire'));
    calls[0]?.answer(bulk('a'));
    await settled();
    expect(out.text).toBe('$1\r\na\r\n-ERR the command failed; see the server log\r\n$1\r\nc\r\n');
    expect(out.ended).toBe(false);
  });
});

describe('StreamSession: the end of a session', () => {
  it('QUIT in the middle of a pipeline: the replies up to it, then the end; what follows never runs', () => {
    for (const { how, chunks } of chunkings(Buffer.from('PING\nPUT a 1\nQUIT\nPUT b 2\nPING\n'))) {
      const { run, calls } = mapRunner();
      const { session, out } = open(run);
      for (const chunk of chunks) session.feed(chunk);
      expect(out.text, `fed ${how}`).toBe('PONG\nOK\nOK\n');
      expect(out.ended).toBe(true);
      expect(calls.map((c) => c[0])).toEqual(['PING', 'PUT', 'QUIT']);
    }
  });

  it('QUIT behind a reply that waits: the session ends once that reply is out, and the last replies go even while the output waits', async () => {
    let answer: (r: Reply) => void = () => undefined;
    const { run: sync } = mapRunner();
    const run: RunCommand = (s, args) => (args[0] === 'SET' ? new Promise<Reply>((resolve) => (answer = resolve)) : sync(s, args));
    const { session, out } = open(run);
    session.feed(resp(['SET', 'a', '1'], ['QUIT'], ['PING']));
    expect(out.ended).toBe(false);
    expect(out.text).toBe('');
    out.accepting = false;
    answer(OK);
    await settled();
    // SET's reply, then the output asked to wait; QUIT's reply is the last there will be, so it goes too.
    expect(out.chunks.map((c) => c.toString('latin1'))).toEqual(['+OK\r\n', '+OK\r\n']);
    expect(out.ended).toBe(true);
  });

  it('a protocol error after good requests: their replies first, then the error, then the end', () => {
    const bytes = Buffer.concat([resp(['SET', 'a', '1'], ['GET', 'a']), Buffer.from('*x\r\n'), resp(['PING'])]);
    for (const { how, chunks } of chunkings(bytes)) {
      const { run, calls } = mapRunner();
      const { session, out, stats, logs } = open(run);
      for (const chunk of chunks) session.feed(chunk);
      expect(out.text, `fed ${how}`).toBe('+OK\r\n$1\r\n1\r\n-ERR Protocol error: invalid multibulk length\r\n');
      expect(out.ended).toBe(true);
      expect(calls).toHaveLength(2);
      expect(stats.protocolErrors).toBe(1);
      expect(logs.find('protocol error; closing the connection')[0]?.err).toMatchObject({ code: 'PROTOCOL' });
    }
  });

  it('a protocol error waits behind the replies still to come, and behind requests waiting to run', async () => {
    const { run, calls } = heldRunner();
    const { session, out } = open(run, { holdBytes: 0 });
    // holdBytes 0: the first GET's reply-to-come is enough to keep the second waiting to run.
    session.feed(Buffer.concat([resp(['GET', 'a'], ['GET', 'b']), Buffer.from('*x\r\n')]));
    expect(calls).toHaveLength(1);
    expect(session.waiting).toBe(true);
    calls[0]?.answer(bulk('a'));
    await settled();
    expect(calls).toHaveLength(2);
    calls[1]?.answer(bulk('b'));
    await settled();
    expect(out.text).toBe('$1\r\na\r\n$1\r\nb\r\n-ERR Protocol error: invalid multibulk length\r\n');
    expect(out.ended).toBe(true);
  });

  it('an unfinished request over the query-buffer limit is answered, then the session ends', () => {
    const { run } = mapRunner();
    const { session, out, stats, logs } = open(run, { limits: { maxRequestBytes: 1000 } });
    session.feed(resp(['PING']));
    session.feed(Buffer.from('*2\r\n$3\r\nSET\r\n$5000\r\n'));
    session.feed(Buffer.alloc(2000, 0x61));
    session.feed(resp(['PING'])); // after the end: ignored
    expect(out.text).toBe(
      '+PONG\r\n-ERR query buffer limit reached: an unfinished request holds more than 1000 bytes (raise --max-query-buffer); closing the connection\r\n',
    );
    expect(out.ended).toBe(true);
    expect(stats.queryBufferDisconnects).toBe(1);
    expect(logs.find('client query buffer limit reached; closing the connection')).toHaveLength(1);
  });

  it('at the end of the input (the peer\'s FIN), every request read still runs and is answered, then the session ends', () => {
    const { run, calls } = mapRunner();
    const { session, out } = open(run, { holdBytes: 0 });
    out.accepting = false;
    session.feed(Buffer.from('PING\nPUT a 1\nGET a\nGET '));
    session.endInput();
    expect(out.ended).toBe(false); // two requests wait to run
    session.resume();
    session.resume();
    expect(out.text).toBe('PONG\nOK\nVALUE 1\n'); // the unfinished `GET ` is not a request
    expect(out.ended).toBe(true);
    expect(calls).toHaveLength(3);
  });

  it('close() ends after the replies owed, and drops the requests not yet run', async () => {
    const { run, calls } = heldRunner();
    const { session, out } = open(run, { holdBytes: 0 });
    session.feed(resp(['GET', 'a'], ['GET', 'b'], ['GET', 'c']));
    expect(calls).toHaveLength(1);
    session.close();
    expect(out.ended).toBe(false);
    calls[0]?.answer(bulk('a'));
    await settled();
    expect(out.text).toBe('$1\r\na\r\n');
    expect(out.ended).toBe(true);
    expect(calls).toHaveLength(1);
  });
});

describe('StreamSession: an output that asks to wait', () => {
  it('writes nothing and runs nothing while the output waits, then everything on resume(), in order', () => {
    const { run, calls } = mapRunner();
    const value = 'v'.repeat(50);
    const { session, out } = open(run, { holdBytes: 64 });
    session.feed(Buffer.from(`PUT k ${value}\n`));
    out.accepting = false;
    const N = 20;
    const reply = `VALUE ${value}\n`;
    // Two replies pass the 64-byte hold: they leave, the output asks to wait, the rest wait to run.
    session.feed(Buffer.from('GET k\n'.repeat(N)));
    expect(out.chunks).toHaveLength(2);
    expect(out.chunks[1]?.toString('latin1')).toBe(reply.repeat(2));
    expect(session.waiting).toBe(true);
    expect(session.queryBytes).toBeGreaterThan(0);
    // More input while it waits: read (into the backlog), not run.
    const ran = calls.length;
    session.feed(Buffer.from('PING\n'));
    expect(calls).toHaveLength(ran);
    expect(out.chunks).toHaveLength(2);
    // Each resume() lets one more batch out, as long as the output keeps asking to wait.
    let resumes = 0;
    while (session.waiting) {
      session.resume();
      resumes++;
      expect(resumes).toBeLessThan(N);
    }
    expect(out.chunks.length).toBeGreaterThan(3);
    out.accepting = true;
    session.resume();
    expect(out.text).toBe('OK\n' + reply.repeat(N) + 'PONG\n');
    expect(session.idle).toBe(true);
    expect(session.queryBytes).toBe(0);
    expect(session.replyBytes).toBe(0);
  });

  it('holds settled replies while the output waits, and sends them on resume()', async () => {
    const { run, calls } = heldRunner();
    const { session, out } = open(run);
    session.feed(resp(['GET', 'a']));
    out.accepting = false;
    calls[0]?.answer(bulk('a'));
    await settled();
    expect(out.text).toBe('$1\r\na\r\n'); // it was taken, and the output said to wait
    session.feed(resp(['GET', 'b'], ['GET', 'c']));
    expect(calls).toHaveLength(1); // not run while the output waits
    out.accepting = true;
    session.resume();
    expect(calls).toHaveLength(3);
    calls[2]?.answer(bulk('c'));
    calls[1]?.answer(bulk('b'));
    await settled();
    expect(out.text).toBe('$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n');
    expect(out.changes).toBeGreaterThan(0);
  });

  it('runs a session whose every request is a promise answered out of order, while the output keeps asking to wait', async () => {
    const { run, calls } = heldRunner();
    const { session, out } = open(run, { holdBytes: 256 });
    out.accepting = false;
    const N = 40;
    const input = resp(...Array.from({ length: N }, (_, i) => ['GET', `k${i}`]));
    for (let i = 0; i < input.length; i++) session.feed(input.subarray(i, i + 1));
    // Settle whatever has run, newest first, and resume, until everything is answered.
    let answered = 0;
    for (let round = 0; answered < N; round++) {
      expect(round).toBeLessThan(10 * N);
      for (let i = calls.length - 1; i >= answered; i--) calls[i]?.answer(bulk(`v${i}`.repeat(8)));
      answered = calls.length;
      await settled();
      session.resume();
    }
    await settled();
    out.accepting = true;
    session.resume();
    expect(out.text).toBe(Array.from({ length: N }, (_, i) => `$${`v${i}`.length * 8}\r\n${`v${i}`.repeat(8)}\r\n`).join(''));
    expect(calls.map((c) => c.args[1])).toEqual(Array.from({ length: N }, (_, i) => `k${i}`));
  });
});
