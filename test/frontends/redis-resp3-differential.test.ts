import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Proc } from '../../bench/lib/procs.js';
import { havePeer } from '../helpers/peers.js';
import { startRedis7 } from '../helpers/redis-peer.js';
import { serverFixture } from '../helpers/server.js';
import { RawClient } from '../helpers/socket.js';
import { request } from './resp-reader.js';

/**
 * A differential test of RESP3 (docs/PROTOCOL.md §2.2, HELLO): after `HELLO 3` on both,
 * the same commands go to a real redis-server 7.0 and to dualkv over raw sockets, and the
 * raw reply bytes must be the same. Where a reply carries what differs between two
 * servers whatever the protocol (a client id, INFO's values, CLIENT INFO's address and
 * sizes), the RESP3 framing is compared byte for byte and the content by its names.
 */

/** What a step compares: the bytes, or (for text whose values are the server's own) framing and names. */
type Compare = 'bytes' | 'hello' | 'info' | 'client';

interface Step {
  readonly words: readonly string[];
  readonly compare: Compare;
}

const steps = (...commands: Array<string[] | Step>): Step[] => commands.map((c) => (Array.isArray(c) ? { words: c, compare: 'bytes' } : c));
const by = (compare: Compare, ...words: string[]): Step => ({ words, compare });

/** A verbatim string's text, or null unless `raw` is exactly one `=len\r\ntxt:…\r\n` whose length is right. */
function verbatimText(raw: string): string | null {
  const m = /^=(\d+)\r\ntxt:/.exec(raw);
  if (m === null) return null;
  const body = raw.slice(m[0].length - 4);
  return body.length === Number(m[1]) + 2 && body.endsWith('\r\n') ? body.slice(4, -2) : null;
}

/** INFO's section headers (`# Server`) and field names, in order. */
const infoShape = (text: string) => ({
  headers: text.split('\r\n').filter((l) => l.startsWith('# ')),
  fields: text.split('\r\n').flatMap((l) => (/^[a-z_0-9]+:/.test(l) ? [l.slice(0, l.indexOf(':'))] : [])),
});

/** A CLIENT INFO line's field names (`id`, `addr`, …), in order. */
const clientFields = (line: string) => line.split(' ').map((f) => f.slice(0, f.indexOf('=')));

/** Why the two replies to `step` differ, or null when they agree as the step compares them. */
function difference(step: Step, theirs: string, ours: string): string | null {
  switch (step.compare) {
    case 'bytes':
      return theirs === ours ? null : 'bytes differ';
    case 'hello': {
      // The client id is each server's own.
      const noId = (raw: string) => raw.replace(/(\$2\r\nid\r\n:)\d+\r\n/, '$1N\r\n');
      return noId(theirs) === noId(ours) ? null : 'bytes differ, client id aside';
    }
    case 'info': {
      const a = verbatimText(theirs);
      const b = verbatimText(ours);
      if (a === null || b === null) return 'not both a verbatim string of the right length';
      // dualkv reports fewer of Redis's fields and some of its own; each section Redis sent is there, in order.
      const headers = infoShape(b).headers;
      return infoShape(a).headers.every((h, i, all) => headers.indexOf(h) >= (i === 0 ? 0 : headers.indexOf(all[i - 1] as string) + 1))
        ? null
        : `sections differ: redis ${infoShape(a).headers.join(',')}, dualkv ${headers.join(',')}`;
    }
    case 'client': {
      const a = verbatimText(theirs);
      const b = verbatimText(ours);
      if (a === null || b === null) return 'not both a verbatim string of the right length';
      // One line per client, each ending in LF; dualkv adds Redis 7.2's lib-name and lib-ver after Redis 7.0's fields.
      const lines = (text: string) => (text.endsWith('\n') ? text.slice(0, -1).split('\n') : null);
      const [la, lb] = [lines(a), lines(b)];
      if (la === null || lb === null) return 'a client line without its LF';
      const want = clientFields(la[0] as string).join(' ');
      const bad = [...la, ...lb].find((l) => clientFields(l).slice(0, want.split(' ').length).join(' ') !== want);
      return bad === undefined ? null : `fields differ: redis ${want}, this line ${clientFields(bad).join(' ')}`;
    }
  }
}

describe.skipIf(!havePeer('redis-server', 'redis-server'))('RESP3 after HELLO 3: dualkv against a real redis-server 7, reply byte for reply byte', () => {
  const fx = serverFixture();
  let redis: Proc;
  let redisAdmin: RawClient;
  let theirs: RawClient;
  let ours: RawClient;

  beforeAll(async () => {
    ({ redis, client: redisAdmin } = await startRedis7());
  });
  afterAll(async () => {
    redisAdmin?.close();
    await redis?.stop();
  });
  beforeEach(async () => {
    expect((await request(redisAdmin, 'FLUSHALL')).raw).toBe('+OK\r\n');
    theirs = await RawClient.connect(redis.port);
    ours = await fx.connect();
  });
  afterEach(() => {
    theirs?.close();
  });

  /** Runs the steps on both, one at a time, and answers every step where the two differ. */
  async function differences(script: Step[]): Promise<string[]> {
    const out: string[] = [];
    for (const step of script) {
      const [a, b] = await Promise.all([request(theirs, ...step.words), request(ours, ...step.words)]);
      const why = difference(step, a.raw, b.raw);
      if (why !== null) out.push(`${step.words.join(' ')}: ${why}; redis ${JSON.stringify(a.raw)}, dualkv ${JSON.stringify(b.raw)}`);
    }
    return out;
  }

  it('keyspace and string replies: nulls are `_`, INCRBYFLOAT stays a bulk string, SCAN, KEYS, LCS IDX and CONFIG GET', async () => {
    const script = steps(
      by('hello', 'HELLO', '3'),
      ['SET', 'k', 'v'],
      ['SCAN', '0'],
      ['KEYS', '*'],
      ['GET', 'k'],
      ['GET', 'nope'],
      ['MGET', 'k', 'nope'],
      ['GETDEL', 'nope'],
      ['GETEX', 'nope'],
      ['SET', 'k', 'v2', 'GET'],
      ['SET', 'g', 'v', 'GET'],
      ['INCRBYFLOAT', 'f', '1.5'],
      ['INCRBYFLOAT', 'f', '0.25'],
      ['INCRBYFLOAT', 'f', '1e3'],
      ['INCR', 'n'],
      ['TTL', 'k'],
      ['EXISTS', 'k', 'nope'],
      ['TYPE', 'k'],
      ['TYPE', 'nope'],
      ['SET', 'a', 'ohmytext'],
      ['SET', 'b', 'mynewtext'],
      ['LCS', 'a', 'b'],
      ['LCS', 'a', 'b', 'LEN'],
      ['LCS', 'a', 'b', 'IDX'],
      ['LCS', 'a', 'b', 'IDX', 'MINMATCHLEN', '4', 'WITHMATCHLEN'],
      ['CONFIG', 'GET', 'maxclients'],
      ['CLIENT', 'GETNAME'],
      ['CLIENT', 'SETNAME', 'n1'],
      ['CLIENT', 'GETNAME'],
      ['ECHO', 'x'],
      ['PING'],
      ['GET', 'k', 'extra'],
      ['FLY'],
      ['RESET'],
      ['GET', 'nope'],
    );
    expect(await differences(script)).toEqual([]);
  });

  it('EXEC: its replies in RESP3, and `_` when a watched key changed', async () => {
    const script = steps(
      by('hello', 'HELLO', '3'),
      ['MULTI'],
      ['SET', 'a', '1'],
      ['GET', 'a'],
      ['GET', 'nope'],
      ['MGET', 'a', 'nope'],
      ['INCRBYFLOAT', 'a', '0.5'],
      ['CONFIG', 'GET', 'maxclients'],
      ['EXEC'],
      ['WATCH', 'a'],
      ['SET', 'a', '2'],
      ['MULTI'],
      ['GET', 'a'],
      ['EXEC'],
    );
    expect(await differences(script)).toEqual([]);
  });

  it('COMMAND INFO, DOCS and GETKEYSANDFLAGS: sets for flags, categories, tips and key specs; maps for key specs and docs', async () => {
    // The commands whose COMMAND INFO and DOCS dualkv answers byte for byte as Redis 7.0 in RESP2 (the others' docs are dualkv's own).
    const script = steps(
      by('hello', 'HELLO', '3'),
      ['COMMAND', 'INFO', 'get'],
      ['COMMAND', 'INFO', 'mset', 'incrbyfloat', 'lcs'],
      ['COMMAND', 'INFO', 'info', 'client|list', 'nosuch'],
      ['COMMAND', 'DOCS', 'get'],
      ['COMMAND', 'DOCS', 'nosuch'],
      ['COMMAND', 'GETKEYS', 'mset', 'a', '1', 'b', '2'],
      ['COMMAND', 'GETKEYSANDFLAGS', 'get', 'k'],
      ['COMMAND', 'GETKEYSANDFLAGS', 'mset', 'a', '1', 'b', '2'],
      ['COMMAND', 'GETKEYSANDFLAGS', 'get'],
    );
    expect(await differences(script)).toEqual([]);
  });

  it('INFO and CLIENT INFO / LIST as verbatim strings (`=len\\r\\ntxt:…`), whose texts are the RESP2 bulk strings', async () => {
    await request(redisAdmin, 'SET', 'k', 'v');
    await request(ours, 'SET', 'k', 'v');
    const script = steps(
      by('hello', 'HELLO', '3'),
      ['INFO', 'keyspace'],
      ['INFO', 'cluster'],
      by('info', 'INFO'),
      by('info', 'INFO', 'server'),
      by('info', 'INFO', 'server', 'clients', 'keyspace'),
      by('client', 'CLIENT', 'INFO'),
      by('client', 'CLIENT', 'LIST'),
      by('hello', 'HELLO', '2'),
      ['INFO', 'keyspace'],
    );
    expect(await differences(script)).toEqual([]);

    // The same text in both protocols: RESP3 changes the framing only.
    const resp2 = await RawClient.connect(fx.srv.tcpPort);
    try {
      const two = (await request(resp2, 'INFO', 'keyspace')).raw;
      await request(resp2, 'HELLO', '3');
      const three = (await request(resp2, 'INFO', 'keyspace')).raw;
      expect(two).toBe('$44\r\n# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n\r\n');
      expect(three).toBe('=48\r\ntxt:# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n\r\n');
    } finally {
      resp2.close();
    }
  });
});

describe("RESP3 for dualkv's own replies", () => {
  const fx = serverFixture();

  it('STATS is a bulk string in RESP2 and verbatim text after HELLO 3, with the same sections and fields', async () => {
    const c = await fx.connect();
    const two = (await request(c, 'STATS')).raw;
    expect(two).toMatch(/^\$\d+\r\n# Server\r\n/);
    await request(c, 'HELLO', '3');
    const three = (await request(c, 'STATS')).raw;
    const text = verbatimText(three);
    expect(text).not.toBeNull();
    // Only commandstats grows between the two (a line for HELLO, one for STATS): the rest is the same sections and fields.
    const shape = (t: string) => ({ headers: infoShape(t).headers, fields: infoShape(t).fields.filter((f) => !f.startsWith('cmdstat_')) });
    expect(shape(text as string)).toEqual(shape(two.slice(two.indexOf('\r\n') + 2, -2)));
  });
});
