import { spawn, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type Proc } from '../../bench/lib/procs.js';
import { DUALKV_INFO_FIELDS } from '../../src/info-sections.js';
import { findOnPath, havePeer, IN_CI } from '../helpers/peers.js';
import { serverFixture } from '../helpers/server.js';
import { RawClient } from '../helpers/socket.js';
import { request, type RespValue } from '../frontends/resp-reader.js';

/** INFO's text as sections of fields, checking on the way that every line is `# Section`, `key:value` or blank. */
function sections(text: string): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  let current: Record<string, string> | null = null;
  expect(text.endsWith('\r\n')).toBe(true);
  for (const line of text.slice(0, -2).split('\r\n')) {
    if (line.startsWith('# ')) out[line.slice(2).toLowerCase()] = current = {};
    else if (line !== '') {
      expect(line).toMatch(/^[A-Za-z0-9_|-]+:[^\r\n]*$/);
      expect(current).not.toBeNull();
      (current as Record<string, string>)[line.slice(0, line.indexOf(':'))] = line.slice(line.indexOf(':') + 1);
    }
  }
  return out;
}

const REDIS_DEFAULT = ['server', 'clients', 'memory', 'persistence', 'stats', 'replication', 'cpu', 'modules', 'errorstats', 'cluster', 'keyspace'];

describe('INFO', () => {
  const fx = serverFixture();
  const info = async (c: RawClient, ...names: string[]) => (await request(c, 'INFO', ...names)).value as string;

  it("answers Redis 7.0's sections, in its order, with dualkv's own after; default leaves out commandstats", async () => {
    const c = await fx.connect();
    const all = sections(await info(c));
    expect(Object.keys(all)).toEqual([...REDIS_DEFAULT, 'udp']);
    expect(all.server).toMatchObject({ redis_version: '7.0.15', redis_mode: 'standalone', tcp_port: String(fx.srv.tcpPort), process_id: String(process.pid), dualkv_version: '0.1.0' });
    expect(all.clients).toMatchObject({ connected_clients: '1', blocked_clients: '0', maxclients: '10000' });
    expect(all.persistence).toMatchObject({ loading: '0', aof_enabled: '0', aof_last_write_status: 'ok' });
    expect(all.replication).toMatchObject({ role: 'master', connected_slaves: '0' });
    expect(all.memory?.used_memory_human).toMatch(/^(\d+B|\d+\.\d\d[KMGTP])$/); // Redis's bytesToHuman
    expect(all.keyspace).toEqual({}); // as Redis: no db0 line while it holds no keys
    expect(Object.keys(sections(await info(c, 'everything')))).toEqual([...REDIS_DEFAULT.slice(0, 8), 'commandstats', ...REDIS_DEFAULT.slice(8), 'udp']);
    expect(await info(c, 'all')).toContain('# Commandstats\r\ncmdstat_info:calls=2,');
  });

  it('selects sections by name, case-insensitively, several at once, default and all among them; an unknown name adds nothing', async () => {
    const c = await fx.connect();
    expect(Object.keys(sections(await info(c, 'CPU', 'keyspace')))).toEqual(['cpu', 'keyspace']);
    expect(Object.keys(sections(await info(c, 'commandSTATS')))).toEqual(['commandstats']);
    const cpuDefault = await info(c, 'cpu', 'default');
    expect(cpuDefault.match(/used_cpu_user:/g)).toHaveLength(1);
    expect(cpuDefault).not.toContain('rejected_calls');
    expect(await info(c, 'sentinel')).toBe('');
  });

  it('counts hits and misses, errors by prefix, and calls refused or failed; CONFIG RESETSTAT starts them again', async () => {
    const c = await fx.connect();
    for (const words of [['SET', 'k', 'v'], ['GET', 'k'], ['GET', 'nope'], ['EXISTS', 'k', 'nope', 'k'], ['TTL', 'nope'], ['GET'], ['FLY'], ['HELLO', '1']]) await request(c, ...words);
    let s = sections(await info(c, 'stats', 'errorstats', 'commandstats', 'keyspace'));
    expect(s.stats).toMatchObject({ keyspace_hits: '3', keyspace_misses: '3', total_error_replies: '3', total_connections_received: '1' });
    expect(s.errorstats).toEqual({ errorstat_ERR: 'count=2', errorstat_NOPROTO: 'count=1' });
    expect(s.commandstats?.cmdstat_get).toMatch(/^calls=2,usec=\d+,usec_per_call=[\d.]+,rejected_calls=1,failed_calls=0$/);
    expect(s.commandstats?.cmdstat_hello).toMatch(/,rejected_calls=0,failed_calls=1$/);
    expect(s.keyspace).toEqual({ db0: 'keys=1,expires=0,avg_ttl=0' });
    expect((await request(c, 'CONFIG', 'RESETSTAT')).value).toEqual({ status: 'OK' });
    s = sections(await info(c, 'stats', 'errorstats', 'commandstats'));
    // As in Redis, CONFIG RESETSTAT itself is counted, after the reset.
    expect(s.stats).toMatchObject({ keyspace_hits: '0', keyspace_misses: '0', total_error_replies: '0', total_connections_received: '0', total_commands_processed: '1' });
    expect(s.errorstats).toEqual({});
    expect(Object.keys(s.commandstats ?? {})).toEqual(['cmdstat_config|resetstat']);
  });

  it('keeps the STATS command and its text line, every section flattened', async () => {
    const c = await fx.connect();
    const [line] = await c.text('STATS');
    expect(line).toMatch(/^STATS redis_version=7\.0\.15 /);
    expect(line).toContain(' connected_clients=1 ');
  });
});

describe('CONFIG', () => {
  const fx = serverFixture();

  it("answers GET with several patterns, SET as Redis does for what cannot change, REWRITE and HELP", async () => {
    const c = await fx.connect();
    const value = async (...w: string[]): Promise<RespValue> => (await request(c, ...w)).value;
    expect(await value('CONFIG', 'GET', 'maxmemory*', 'port', 'bind')).toEqual(
      expect.arrayContaining(['maxmemory', 'maxmemory-policy', 'maxmemory-samples', 'maxmemory-clients', 'port', String(fx.srv.tcpPort), 'bind', '127.0.0.1']),
    );
    expect(await value('CONFIG', 'GET', 'databases', 'appendonly')).toEqual(['databases', '1', 'appendonly', 'no']);
    expect(await value('CONFIG', 'SET', 'timeout', '0')).toEqual({ status: 'OK' }); // the value it has
    expect(await value('CONFIG', 'SET', 'timeout', '5')).toEqual({
      error:
        "ERR CONFIG SET failed (possibly related to argument 'timeout') - can't set immutable config (dualkv is configured by flags at start: restart kv-server with the new value, see kv-server --help)",
    });
    expect(await value('CONFIG', 'SET', 'timeout', '0', 'timeout', '0')).toEqual({ error: "ERR CONFIG SET failed (possibly related to argument 'timeout') - duplicate parameter" });
    expect(await value('CONFIG', 'SET', 'nope', '1')).toEqual({ error: "ERR Unknown option or number of arguments for CONFIG SET - 'nope'" });
    expect(await value('CONFIG', 'SET', 'timeout', '0', 'hz')).toEqual({ error: "ERR wrong number of arguments for 'config|set' command" });
    expect(await value('CONFIG', 'REWRITE')).toEqual({ error: 'ERR The server is running without a config file' });
    expect(((await value('CONFIG', 'HELP')) as Array<{ status: string }>).map((l) => l.status)).toContain('RESETSTAT');
    expect(await value('CONFIG', 'GET')).toEqual({ error: "ERR wrong number of arguments for 'config|get' command" });
  });
});

/** INFO everything of a server, parsed. */
async function infoOf(port: number): Promise<Record<string, Record<string, string>>> {
  const c = await RawClient.connect(port);
  try {
    return sections((await request(c, 'INFO', 'everything')).value as string);
  } finally {
    c.close();
  }
}

describe.skipIf(!havePeer('redis-server', 'redis-server'))('INFO field names against a real redis-server 7.0', () => {
  const fx = serverFixture();
  let redis: Proc;
  beforeAll(async () => {
    // The log on, as dualkv's is: Redis shows its aof_* fields only then.
    redis = await startRedis([['appendonly', 'yes']]);
  });
  afterAll(async () => redis?.stop());

  it("uses, in each of Redis's sections, only Redis's own names there, besides the fields dualkv lists as its own", async () => {
    await fx.start({ persistence: { enabled: true } });
    const theirs = await infoOf(redis.port);
    const ours = await infoOf(fx.srv.tcpPort);
    const strays: string[] = [];
    for (const [section, fields] of Object.entries(ours)) {
      if (!(section in theirs)) continue; // a section of dualkv's own (udp, logging)
      const own = new Set(DUALKV_INFO_FIELDS[section] ?? []);
      for (const field of Object.keys(fields)) {
        // Per-command and per-error lines are named for what ran; their shape is checked above.
        if (/^(cmdstat|errorstat|db)\d*_?/.test(field) && section !== 'persistence') continue;
        if (!(field in (theirs[section] ?? {})) && !own.has(field)) strays.push(`${section}.${field}`);
      }
    }
    expect(strays).toEqual([]);
    // What tools read (redis-cli --stat, redis-py, exporters) is there.
    for (const [section, field] of [['server', 'redis_version'], ['server', 'uptime_in_seconds'], ['clients', 'connected_clients'], ['memory', 'used_memory'], ['memory', 'maxmemory_policy'], ['persistence', 'loading'], ['persistence', 'rdb_last_save_time'], ['stats', 'total_commands_processed'], ['stats', 'instantaneous_ops_per_sec'], ['replication', 'role'], ['cpu', 'used_cpu_sys']] as const) {
      expect(ours[section]?.[field], `${section}.${field}`).toBeDefined();
      expect(theirs[section]?.[field], `${section}.${field} in redis`).toBeDefined();
    }
  });
});

/** Debian's python3-redis, run by /usr/bin/python3 (not a pyenv shim's python). */
const PYTHON = '/usr/bin/python3';
function havePythonRedis(): boolean {
  if (findOnPath('python3') === null) return havePeer('python3', 'python3');
  if (spawnSync(PYTHON, ['-c', 'import redis'], { stdio: 'ignore' }).status === 0) return true;
  const why = 'python3-redis is not installed (apt-get install -y python3-redis)';
  if (IN_CI) throw new Error(`${why}; .ci/run installs it, so under CI this test may not skip`);
  process.stderr.write(`skipping the redis-py tests: ${why}\n`);
  return false;
}

function python(script: string, port: number): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, ['-c', script, String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

describe.skipIf(!havePythonRedis())("redis-py's info()", () => {
  const fx = serverFixture();

  it('parses every section, and keyspace into a dict, as it does for Redis', async () => {
    await fx.start();
    const c = await fx.connect();
    await request(c, 'SET', 'k', 'v');
    const script = `
import json, sys, redis
r = redis.Redis(host='127.0.0.1', port=int(sys.argv[1]))
info = r.info()
ks = r.info('keyspace')
every = r.info('everything')
print(json.dumps({'version': info['redis_version'], 'clients': info['connected_clients'], 'role': info['role'],
  'keyspace': ks, 'get': every['cmdstat_set'], 'loading': info['loading'], 'sections': len(every)}))
`;
    const r = await python(script, fx.srv.tcpPort);
    expect(r.err).toBe('');
    const parsed = JSON.parse(r.out) as Record<string, unknown>;
    expect(parsed).toMatchObject({ version: '7.0.15', clients: 2, role: 'master', loading: 0, keyspace: { db0: { keys: 1, expires: 0, avg_ttl: 0 } } });
    expect(parsed.get).toMatchObject({ calls: 1, rejected_calls: 0, failed_calls: 0 });
  });
});
