import { describe, expect, it } from 'vitest';
import parsePrometheusTextFormat, { type ParsedFamily } from 'parse-prometheus-text-format';
import { UdpClient } from '../../clients/lib/udp-client.js';
import { REJECT_REASONS } from '../../src/protocol/datagram-error.js';
import { LATENCY_BUCKETS_US } from '../../src/command-counters.js';
import { request } from '../frontends/resp-reader.js';
import { rejections, RawUdp } from '../frontends/udp-helpers.js';
import { serverFixture, type TestServer } from '../helpers/server.js';

/** GET /metrics (issue 13 point 5, docs/HTTP.md "Metrics") over real HTTP, read by a Prometheus text-format parser. */

const HISTOGRAM = 'dualkv_command_duration_seconds';

interface Scrape {
  readonly text: string;
  readonly families: Map<string, ParsedFamily>;
  /** The histogram's samples one by one: the parser folds a labelled histogram into one sample (its flattenMetrics), so they are read as untyped. */
  readonly histogram: Array<{ name: string; labels: Record<string, string>; value: number }>;
}

async function scrape(srv: TestServer): Promise<Scrape> {
  const res = await fetch(`http://127.0.0.1:${srv.server.httpPort}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
  const text = await res.text();
  const families = new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f]));
  const untyped = parsePrometheusTextFormat(text.replace(`# TYPE ${HISTOGRAM} histogram`, `# TYPE ${HISTOGRAM} untyped`));
  const histogram = untyped
    .filter((f) => f.name.startsWith(HISTOGRAM))
    .flatMap((f) => f.metrics.map((m) => ({ name: f.name, labels: m.labels ?? {}, value: Number(m.value) })));
  return { text, families, histogram };
}

/** One sample's value (0 when the series is absent), matched on the labels given. */
function value(s: Scrape, name: string, labels: Record<string, string> = {}): number {
  const f = s.families.get(name);
  const m = f?.metrics.find((x) => Object.entries(labels).every(([k, v]) => x.labels?.[k] === v));
  return m === undefined ? 0 : Number(m.value);
}

describe('GET /metrics', () => {
  const fx = serverFixture();

  it('counts commands by name, transport and result as they run over RESP, UDP and HTTP', async () => {
    const srv = await fx.start({ httpPort: 0 });
    const before = await scrape(srv);
    expect(before.families.get('dualkv_commands_total')?.type).toBe('COUNTER');

    const tcp = await fx.connect();
    await request(tcp, 'SET', 'a', 'notanumber');
    await request(tcp, 'GET', 'a');
    await request(tcp, 'INCR', 'a'); // ran, answered an error
    await request(tcp, 'GET'); // wrong arity: refused before it ran
    const udp = await UdpClient.connect({ port: srv.udpPort, timeoutMs: 500, retries: 3 });
    try {
      await udp.put('u', 'v');
      await udp.get('u');
    } finally {
      await udp.close();
    }
    const base = `http://127.0.0.1:${srv.server.httpPort}/v1/kv`;
    expect((await fetch(`${base}/h`, { method: 'PUT', body: 'x' })).status).toBe(201);
    expect((await fetch(`${base}/h`)).status).toBe(200);

    const after = await scrape(srv);
    const delta = (labels: Record<string, string>) => value(after, 'dualkv_commands_total', labels) - value(before, 'dualkv_commands_total', labels);
    expect(delta({ command: 'set', transport: 'tcp', result: 'ok' })).toBe(1);
    expect(delta({ command: 'get', transport: 'tcp', result: 'ok' })).toBe(1);
    expect(delta({ command: 'incr', transport: 'tcp', result: 'error' })).toBe(1);
    expect(delta({ command: 'get', transport: 'tcp', result: 'rejected' })).toBe(1);
    expect(delta({ command: 'get', transport: 'udp', result: 'ok' })).toBe(1);
    expect(delta({ command: 'getver', transport: 'http', result: 'ok' })).toBe(1); // GET /v1/kv/{key} answers the version too
    // The write commands UDP and HTTP map PUT to, whichever they are: one each.
    const writes = (s: Scrape, transport: string) =>
      (s.families.get('dualkv_commands_total')?.metrics ?? []).filter((m) => m.labels?.transport === transport && !['get', 'getver'].includes(m.labels.command ?? '')).reduce((n, m) => n + Number(m.value), 0);
    expect(writes(after, 'udp') - writes(before, 'udp')).toBe(1);
    expect(writes(after, 'http') - writes(before, 'http')).toBe(1);
    expect(value(after, 'dualkv_keys')).toBe(3);
    expect(value(after, 'dualkv_connections')).toBeGreaterThanOrEqual(1);
    expect(value(after, 'dualkv_connections_total')).toBeGreaterThanOrEqual(1);
  });

  it('uses bounded label values only: no key, value or client address appears', async () => {
    const srv = await fx.start({ httpPort: 0 });
    const tcp = await fx.connect();
    await request(tcp, 'SET', 'secret-key-4711', 'secret-value-0815', 'EX', '100');
    await request(tcp, 'GET', 'secret-key-4711');
    await request(tcp, 'NOSUCHCOMMAND', 'secret-key-4711');
    const raw = await RawUdp.open();
    await raw.send(Buffer.from('not a datagram'), srv.udpPort);
    await rejections(srv.server, 1);
    const s = await scrape(srv);
    expect(s.text).not.toMatch(/secret|nosuchcommand|127\.0\.0\.1/i);
    const commands = s.families.get('dualkv_commands_total')?.metrics ?? [];
    expect(commands.length).toBeGreaterThan(0);
    for (const m of commands) {
      expect(['tcp', 'udp', 'http', 'other']).toContain(m.labels?.transport);
      expect(['ok', 'error', 'rejected']).toContain(m.labels?.result);
      expect(m.labels?.command).toMatch(/^[a-z|-]+$/);
    }
    for (const m of s.families.get('dualkv_udp_rejected_total')?.metrics ?? []) expect(REJECT_REASONS).toContain(m.labels?.reason);
    // The same counters as INFO's udp section: the datagram is refused for one reason, whichever it is.
    const udpInfo = srv.server.ctx.info().udp ?? {};
    for (const reason of REJECT_REASONS) expect(value(s, 'dualkv_udp_rejected_total', { reason })).toBe(Number(udpInfo[`udp_rejected_${reason}`]));
    expect(REJECT_REASONS.reduce((n, reason) => n + value(s, 'dualkv_udp_rejected_total', { reason }), 0)).toBe(1);
    expect(value(s, 'dualkv_keys_with_expiry')).toBe(1);
  });

  it('has a latency histogram per command whose buckets are cumulative, end in +Inf = count, and count what ran', async () => {
    const srv = await fx.start({ httpPort: 0 });
    const tcp = await fx.connect();
    for (let i = 0; i < 20; i++) await request(tcp, 'SET', `k${i}`, 'v');
    await request(tcp, 'GET'); // rejected: not timed
    const s = await scrape(srv);
    expect(s.families.get(HISTOGRAM)?.type).toBe('HISTOGRAM');
    const commands = new Set(s.histogram.map((x) => x.labels.command));
    expect(commands).toContain('set');
    for (const command of commands) {
      if (command === undefined) throw new Error("a histogram sample without a command label");
      const series = s.histogram.filter((x) => x.labels.command === command);
      const buckets = series.filter((x) => x.name === `${HISTOGRAM}_bucket`);
      expect(buckets.map((b) => b.labels.le)).toEqual([...LATENCY_BUCKETS_US.map((us) => String(us / 1e6)), '+Inf']);
      for (let i = 1; i < buckets.length; i++) expect(buckets[i]!.value).toBeGreaterThanOrEqual(buckets[i - 1]!.value);
      const count = series.find((x) => x.name === `${HISTOGRAM}_count`)?.value;
      expect(buckets.at(-1)?.value).toBe(count);
      const ran = value(s, 'dualkv_commands_total', { command, transport: 'tcp', result: 'ok' }) + value(s, 'dualkv_commands_total', { command, transport: 'tcp', result: 'error' });
      expect(count).toBe(ran);
      expect(series.find((x) => x.name === `${HISTOGRAM}_sum`)?.value).toBeGreaterThanOrEqual(0);
    }
    expect(s.histogram.find((x) => x.name === `${HISTOGRAM}_count` && x.labels.command === 'set')?.value).toBe(20);
  });

  it('reads the counters INFO reads, and answers only GET and HEAD', async () => {
    const srv = await fx.start({ httpPort: 0 });
    const tcp = await fx.connect();
    await request(tcp, 'SET', 'x', '1');
    const s = await scrape(srv);
    const info = srv.server.ctx.info();
    expect(value(s, 'dualkv_memory_used_bytes')).toBeGreaterThan(0);
    expect(value(s, 'dualkv_keyspace_misses_total')).toBe(Number(info.stats?.keyspace_misses));
    expect(s.families.has('process_cpu_user_seconds_total')).toBe(true);
    const post = await fetch(`http://127.0.0.1:${srv.server.httpPort}/metrics`, { method: 'POST' });
    expect([post.status, post.headers.get('allow')]).toEqual([405, 'GET, HEAD']);
    const head = await fetch(`http://127.0.0.1:${srv.server.httpPort}/metrics`, { method: 'HEAD' });
    expect([head.status, await head.text()]).toEqual([200, '']);
  });

  it('times every log sync and every snapshot, as histograms whose counts match INFO', async () => {
    const srv = await fx.start({ httpPort: 0, persistence: { enabled: true, fsync: 'always', snapshotIntervalSec: 0 } });
    const tcp = await fx.connect();
    const empty = await scrape(srv);
    // Persistence on: the series are there before anything is timed, with count 0 (no snapshot yet).
    expect(empty.text).toMatch(/^dualkv_snapshot_duration_seconds_count 0$/m);
    for (let i = 0; i < 5; i++) await request(tcp, 'SET', `k${i}`, 'v');
    expect((await request(tcp, 'SAVE')).raw).toBe('+OK\r\n');
    const s = await scrape(srv);
    const info = srv.server.ctx.info().persistence ?? {};
    const sample = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(s.text)?.[1] ?? NaN);
    // --fsync always: each of the 5 SETs was one O_DSYNC write, and SAVE's rotation fdatasynced once more.
    const syncs = sample('dualkv_log_sync_duration_seconds_count');
    expect(syncs).toBeGreaterThanOrEqual(5);
    expect(syncs).toBe(Number(info.aof_syncs));
    expect(sample('dualkv_log_sync_duration_seconds_bucket\\{le="\\+Inf"\\}')).toBe(syncs);
    expect(sample('dualkv_log_sync_duration_seconds_sum')).toBeGreaterThan(0);
    expect(Math.round(sample('dualkv_log_sync_duration_seconds_sum') * 1e6)).toBe(Number(info.aof_sync_usec));
    expect(sample('dualkv_snapshot_duration_seconds_count')).toBe(1);
    expect(sample('dualkv_snapshot_duration_seconds_bucket\\{le="\\+Inf"\\}')).toBe(1);
  });

  it('has no log or snapshot timings with persistence off', async () => {
    const srv = await fx.start({ httpPort: 0 });
    const s = await scrape(srv);
    expect(s.text).toContain('# TYPE dualkv_log_sync_duration_seconds histogram');
    expect(s.text).not.toMatch(/^dualkv_log_sync_duration_seconds_count/m);
    expect(s.text).not.toMatch(/^dualkv_snapshot_duration_seconds_count/m);
  });
});
