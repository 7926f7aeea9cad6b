/// <reference lib="dom" />
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import puppeteer, { type Browser, type JSHandle, type Page } from 'puppeteer-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CONSOLE_FILES } from '../../src/frontends/http/console-routes.js';
import { encodeKeyPath } from '../../src/frontends/http/http-keys.js';
import { findOnPath, havePeer } from '../helpers/peers.js';
import { serverFixture, type TestServer } from '../helpers/server.js';

/**
 * The web console at /ui (issue 13, docs/HTTP.md §8): its files and their headers over plain
 * HTTP, then the page itself in Debian's headless Chromium against a real server, with the
 * store changed over RESP (ioredis) underneath it.
 */

const ROOT = new URL('../../', import.meta.url);
const CONSOLE_DIR = fileURLToPath(new URL('src/frontends/http/console/', ROOT));
const ARTIFACTS = fileURLToPath(new URL('test-artifacts/', ROOT));
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
const TYPES: Record<string, string> = { html: 'text/html; charset=utf-8', css: 'text/css; charset=utf-8', js: 'text/javascript; charset=utf-8' };

const base = (srv: TestServer) => `http://127.0.0.1:${srv.server.httpPort}`;

/** What the tests call of the page's own modules (src/frontends/http/console/). */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
interface Scrape {
  gauges: Map<string, number>;
}
interface KeyBytesModule {
  encodeKeyBytes(bytes: Uint8Array): string;
  decodeKeyPath(encoded: string): Uint8Array | null;
  describeKey(encoded: string): { text: string; binary: boolean };
}
interface MetricsModule {
  parsePrometheus(text: string): Sample[];
  readScrape(samples: Sample[], at: number): Scrape;
  commandRates(prev: Scrape, cur: Scrape): Map<string, number>;
  intervalQuantile(prev: Scrape, cur: Scrape, q: number): number | null;
}

/** One of the page's modules, imported in the page (a string, so that vitest leaves the import alone). */
function pageModule<T>(p: Page, file: string): Promise<JSHandle<T>> {
  return p.evaluateHandle(`import('/ui/${file}')`) as Promise<JSHandle<T>>;
}

/** A request with its path sent exactly as written (fetch would resolve `..` before sending). */
function rawGet(srv: TestServer, path: string): Promise<{ status: number; type: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: srv.server.httpPort, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the web console files at /ui', () => {
  const fx = serverFixture();

  it('serves the page and each file of the allow-list with its type, the strict CSP, nosniff, no framing and no referrer', async () => {
    const srv = await fx.start({ httpPort: 0 });
    for (const path of ['/ui/', ...[...CONSOLE_FILES.keys()].map((f) => `/ui/${f}`)]) {
      const r = await fetch(base(srv) + path);
      const file = path === '/ui/' ? 'index.html' : path.slice('/ui/'.length);
      expect(r.status, path).toBe(200);
      expect(r.headers.get('content-type'), path).toBe(TYPES[file.split('.').pop() ?? '']);
      expect(r.headers.get('content-security-policy'), path).toBe(CSP);
      expect(r.headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(r.headers.get('x-frame-options'), path).toBe('DENY');
      expect(r.headers.get('referrer-policy'), path).toBe('no-referrer');
      expect(Buffer.from(await r.arrayBuffer()).equals(readFileSync(CONSOLE_DIR + file)), path).toBe(true);
    }
    // HEAD: the same headers, no body; the ETag makes a revalidation a 304.
    const head = await fetch(`${base(srv)}/ui/console.js`, { method: 'HEAD' });
    expect([head.status, head.headers.get('content-length'), await head.text()]).toEqual([200, String(readFileSync(CONSOLE_DIR + 'console.js').length), '']);
    const etag = head.headers.get('etag') ?? '';
    expect(etag).toMatch(/^".+"$/);
    expect((await fetch(`${base(srv)}/ui/console.js`, { headers: { 'If-None-Match': etag } })).status).toBe(304);
  });

  it('redirects /ui to /ui/; answers other methods 405 with Allow; anything off the allow-list, .. included, is the API\'s JSON 404', async () => {
    const srv = await fx.start({ httpPort: 0 });
    const redirect = await fetch(`${base(srv)}/ui`, { redirect: 'manual' });
    expect([redirect.status, redirect.headers.get('location')]).toEqual([308, '/ui/']);
    const post = await fetch(`${base(srv)}/ui/`, { method: 'POST', body: 'x' });
    expect([post.status, post.headers.get('allow')]).toEqual([405, 'GET, HEAD']);
    expect(((await post.json()) as { error: { code: string } }).error.code).toBe('METHOD_NOT_ALLOWED');
    for (const path of ['/ui/../package.json', '/ui/%2e%2e/package.json', '/ui/..%2Fpackage.json', '/ui/nope.js', '/ui/console', '/ui//index.html', '/ui/console.js/', '/ui/CONSOLE.JS', '/uix']) {
      const r = await rawGet(srv, path);
      expect([r.status, r.type], path).toEqual([404, 'application/json; charset=utf-8']);
      expect((JSON.parse(r.body) as { error: { code: string } }).error.code, path).toBe('NOT_FOUND');
    }
  });

  it('the allow-list is exactly the folder\'s files, and every file the page loads is on it', () => {
    expect([...CONSOLE_FILES.keys()].sort()).toEqual(readdirSync(CONSOLE_DIR).sort());
    const html = readFileSync(CONSOLE_DIR + 'index.html', 'utf8');
    const loaded = [...html.matchAll(/(?:src|href)="([^":]+)"/g)].map((m) => m[1]);
    for (const f of readdirSync(CONSOLE_DIR).filter((n) => n.endsWith('.js'))) {
      loaded.push(...[...readFileSync(CONSOLE_DIR + f, 'utf8').matchAll(/from '\.\/([^']+)'/g)].map((m) => m[1]));
    }
    for (const f of loaded) expect(CONSOLE_FILES.has(f ?? ''), f).toBe(true);
  });

  it('ships in the npm package', async () => {
    const { stdout } = await promisify(execFile)('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: fileURLToPath(ROOT) });
    const packed = new Set((JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>)[0]?.files.map((f) => f.path));
    for (const f of CONSOLE_FILES.keys()) expect(packed.has(`src/frontends/http/console/${f}`), f).toBe(true);
  });
});

describe.skipIf(!havePeer('chromium', 'chromium'))('the web console in headless Chromium', () => {
  const fx = serverFixture();
  let browser: Browser;
  let page: Page | undefined;
  let redis: Redis | undefined;
  /** What went wrong in the page: console errors, uncaught exceptions, failed requests, error statuses. */
  let problems: string[] = [];

  beforeAll(async () => {
    browser = await puppeteer.launch({ executablePath: findOnPath('chromium') ?? 'chromium', headless: true, args: ['--no-sandbox'] });
  });
  afterAll(async () => {
    await browser?.close();
  });
  // Registered after the fixture's, so it runs first: the page lets go of its change stream before the server stops.
  afterEach(async () => {
    await page?.close();
    page = undefined;
    redis?.disconnect();
    redis = undefined;
  });

  async function open(): Promise<{ srv: TestServer; page: Page; redis: Redis }> {
    const srv = await fx.start({ httpPort: 0 });
    redis = new Redis({ host: '127.0.0.1', port: srv.tcpPort, maxRetriesPerRequest: 0, retryStrategy: () => null });
    const p = await browser.newPage();
    page = p;
    problems = [];
    await p.setViewport({ width: 1280, height: 1000 });
    p.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    p.on('pageerror', (e) => problems.push(`page error: ${e instanceof Error ? e.message : String(e)}`));
    p.on('requestfailed', (r) => problems.push(`failed: ${r.method()} ${r.url()} ${r.failure()?.errorText ?? ''}`));
    p.on('response', (r) => {
      if (r.status() >= 400) problems.push(`status ${r.status()}: ${r.request().method()} ${r.url()}`);
    });
    await p.goto(`${base(srv)}/ui`, { waitUntil: 'load' });
    // The change stream is open (and the first listing done): what happens from here shows up live.
    await p.waitForFunction(() => document.getElementById('watch-status')?.textContent === 'following changes live', { timeout: 10_000 });
    return { srv, page: p, redis };
  }

  const chart = (p: Page, id: string) =>
    p.$eval(`#chart-${id} canvas`, (c) => ({ points: Number(c.dataset.points ?? 0), latest: JSON.parse(c.dataset.latest ?? '{}') as Record<string, number | null>, max: Number(c.dataset.max || 0), pixels: c.toDataURL() }));

  /** Waits until the value box holds `text` (a key opened, or reloaded). */
  const valueShows = (p: Page, text: string) =>
    p.waitForFunction((t) => (document.getElementById('editor-value') as HTMLTextAreaElement).value === t, { timeout: 10_000 }, text);

  /** Replaces the value box's text by typing, then presses Save. */
  async function typeAndSave(p: Page, text: string): Promise<void> {
    await p.$eval('#editor-value', (t) => (t as HTMLTextAreaElement).select());
    await p.keyboard.type(text);
    await p.click('#editor-save');
  }

  it('loads with no console error or failed request, and its charts draw figures that change as commands run over RESP', { timeout: 60_000 }, async () => {
    const { page: p, redis: r } = await open();
    await p.waitForFunction(() => Number(document.querySelector<HTMLCanvasElement>('#chart-keys canvas')?.dataset.points) >= 2, { timeout: 10_000 });
    const before = await chart(p, 'keys');
    expect(before.latest.keys).toBe(0);
    for (let i = 0; i < 30; i++) await r.set(`chart:${i}`, 'v', 'EX', 600);
    await r.get('chart:0');
    await p.waitForFunction(
      () => {
        const read = (id: string) => document.querySelector<HTMLCanvasElement>(`#chart-${id} canvas`)?.dataset ?? {};
        const latest = (id: string) => JSON.parse(read(id).latest ?? '{}') as Record<string, number | null>;
        return latest('keys').keys === 30 && latest('keys')['with expiry'] === 30 && Number(read('ops').max) > 0 && (latest('latency').p99 ?? 0) > 0 && (latest('connections').connected ?? 0) >= 1;
      },
      { timeout: 15_000, polling: 100 },
    );
    const after = await chart(p, 'keys');
    expect(after.points).toBeGreaterThan(before.points);
    expect(after.pixels).not.toBe(before.pixels);
    expect((await chart(p, 'memory')).latest.used).toBeGreaterThan(0);
    // The legend says what the lines are, with the current numbers.
    expect(await p.$eval('#chart-keys .legend', (l) => l.textContent)).toContain('keys30');
    expect(await p.$eval('#chart-ops .legend', (l) => l.textContent)).toContain('SET');
    // The screenshot shows a key open beside the charts.
    await (await p.waitForSelector('#key-list button[data-key="chart%3A7"]'))?.click();
    await valueShows(p, 'v');
    mkdirSync(ARTIFACTS, { recursive: true });
    await p.screenshot({ path: `${ARTIFACTS}web-console.png`, fullPage: true });
    expect(problems).toEqual([]);
  });

  it('a key put over RESP shows in the list without a reload, with its value and expiry; an edit typed in the browser is read back over RESP', { timeout: 60_000 }, async () => {
    const { page: p, redis: r } = await open();
    // A key that needs percent-encoding (docs/HTTP.md §2): a space, a colon, a two-byte UTF-8 letter.
    await r.set('from tcp:ü', 'first value', 'EX', 100);
    const button = await p.waitForSelector('#key-list button[data-key="from%20tcp%3A%C3%BC"]', { timeout: 10_000 });
    expect(await button?.evaluate((b) => b.textContent)).toBe('from tcp:ü');
    await button?.click();
    await valueShows(p, 'first value');
    expect(await p.$eval('#editor-key', (k) => k.textContent)).toBe('from tcp:ü');
    expect(await p.$eval('#editor-version', (v) => v.textContent)).toMatch(/^[1-9][0-9]*$/);
    expect(await p.$eval('#editor-expiry', (v) => v.textContent)).toMatch(/^in [1-9][0-9]? s \(|^in 100 s \(/);
    expect(Number(await p.$eval('#editor-ttl', (t) => (t as HTMLInputElement).value))).toBeGreaterThan(0);
    await typeAndSave(p, 'edited in the browser');
    await p.waitForFunction(() => document.getElementById('editor-message')?.textContent?.startsWith('Saved: version'), { timeout: 10_000 });
    expect(await r.get('from tcp:ü')).toBe('edited in the browser');
    // Saving kept the expiry (a PUT without ttl would have cleared it).
    expect(await r.ttl('from tcp:ü')).toBeGreaterThan(0);
    expect(problems).toEqual([]);
  });

  it('a key made in the browser (If-None-Match: *) is read back over RESP; deleted in the browser (If-Match: its version), it is gone over RESP too', { timeout: 60_000 }, async () => {
    const { page: p, redis: r } = await open();
    await p.click('#new-key');
    await p.type('#editor-new-key', 'made/in browser');
    await typeAndSave(p, 'new value');
    await p.waitForFunction(() => document.getElementById('editor-message')?.textContent?.startsWith('Created: version'), { timeout: 10_000 });
    expect(await r.get('made/in browser')).toBe('new value');
    expect(await r.ttl('made/in browser')).toBe(-1);
    await p.waitForSelector('#key-list button[data-key="made/in%20browser"][aria-current="true"]');
    await p.click('#editor-delete');
    await p.click('#editor-delete-yes');
    await p.waitForFunction(() => document.querySelector('#key-list button[data-key="made/in%20browser"]') === null, { timeout: 10_000 });
    expect(await r.exists('made/in browser')).toBe(0);
    expect(problems).toEqual([]);
  });

  it('an edit of a key changed over RESP since the browser read it is refused (412): the conflict names the current version, and Reload shows it', { timeout: 60_000 }, async () => {
    const { srv, page: p, redis: r } = await open();
    await r.set('shared', 'as read');
    await (await p.waitForSelector('#key-list button[data-key="shared"]', { timeout: 10_000 }))?.click();
    await valueShows(p, 'as read');
    await r.set('shared', 'changed over RESP');
    const current = ((await fetch(`${base(srv)}/v1/kv/shared`, { method: 'HEAD' })).headers.get('etag') ?? '').replace(/"/g, '');
    // The change stream tells of it before any save is tried.
    await p.waitForSelector('#editor-notice:not([hidden])', { timeout: 10_000 });
    expect(await p.$eval('#editor-notice-text', (t) => t.textContent)).toContain(`now version ${current}`);
    await typeAndSave(p, 'late edit');
    await p.waitForSelector('#editor-conflict:not([hidden])', { timeout: 10_000 });
    expect(await p.$eval('#editor-conflict-text', (t) => t.textContent)).toContain(`it is at version ${current} now`);
    expect(await r.get('shared')).toBe('changed over RESP');
    // The edit stays in the box until Reload.
    expect(await p.$eval('#editor-value', (t) => (t as HTMLTextAreaElement).value)).toBe('late edit');
    await p.click('#editor-conflict-reload');
    await valueShows(p, 'changed over RESP');
    expect(await p.$eval('#editor-version', (v) => v.textContent)).toBe(current);
    expect(await p.$eval('#editor-conflict', (c) => (c as HTMLElement).hidden)).toBe(true);
    // The 412 is the only answer that was not a success, and Chromium logs it as such.
    expect(problems.filter((m) => !m.includes('412'))).toEqual([]);
    expect(problems.filter((m) => m.startsWith('status'))).toEqual([`status 412: PUT ${base(srv)}/v1/kv/shared`]);
  });

  it("the page's own readers agree with the server's: keys percent-encoded byte for byte (docs/HTTP.md §2), /metrics parsed as a Prometheus parser parses it, percentiles as histogram_quantile estimates them", { timeout: 60_000 }, async () => {
    const { srv, page: p, redis: r } = await open();
    await r.set('a', '1');
    await r.get('a');
    const kb = await pageModule<KeyBytesModule>(p, 'key-bytes.js');
    const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString('latin1');
    const keys = await p.evaluate((m) => {
      const encoded = m.encodeKeyBytes(Uint8Array.from({ length: 256 }, (_, i) => i));
      return { encoded, back: Array.from(m.decodeKeyPath(encoded) ?? []), binary: m.describeKey('%FF%FE%20x'), text: m.describeKey('caf%C3%A9/a%2Fb'), bad: m.decodeKeyPath('%zz') };
    }, kb);
    expect(keys.encoded).toBe(encodeKeyPath(every));
    expect(keys.back).toEqual([...Buffer.from(every, 'latin1')]);
    expect(keys.binary).toEqual({ text: '\\xff\\xfe x', binary: true });
    expect(keys.text).toEqual({ text: 'café/a/b', binary: false });
    expect(keys.bad).toBeNull();

    // Every sample of a real scrape, as the page reads it and as parse-prometheus-text-format does (each family read untyped, so that it gives every line).
    const metrics = await pageModule<MetricsModule>(p, 'metrics.js');
    const text = await (await fetch(`${base(srv)}/metrics`)).text();
    const key = (s: Sample) => JSON.stringify([s.name, Object.entries(s.labels).sort(), s.value]);
    const reference = parsePrometheusTextFormat(text.replace(/^# TYPE (\S+) \S+$/gm, '# TYPE $1 untyped')).flatMap((f) => f.metrics.map((m) => key({ name: f.name, labels: m.labels ?? {}, value: Number(m.value) })));
    const mine = await p.evaluate((m, t) => m.parsePrometheus(t), metrics, text);
    expect(mine.map(key).sort()).toEqual(reference.sort());
    expect(mine.some((s) => s.name === 'dualkv_commands_total' && s.labels.command === 'set')).toBe(true);

    const figures = await p.evaluate((m) => {
      const escaped = m.parsePrometheus('x{a="q\\"t\\\\b\\nl",b=""} 1.5e3 1700000000000\nbad line\ny +Inf\n').map((s) => ({ ...s, value: String(s.value) }));
      // 4 commands before the first scrape; by the second, 10 more at or under 1 ms and 10 under 10 ms.
      const text = (le1: number, le10: number) =>
        `dualkv_command_duration_seconds_bucket{command="get",le="0.001"} ${le1}\ndualkv_command_duration_seconds_bucket{command="get",le="0.01"} ${le10}\ndualkv_command_duration_seconds_bucket{command="get",le="+Inf"} ${le10}\ndualkv_commands_total{command="get",transport="tcp",result="ok"} ${le10}\n`;
      const prev = m.readScrape(m.parsePrometheus(text(4, 4)), 0);
      const cur = m.readScrape(m.parsePrometheus(text(14, 24)), 2000);
      const none = m.readScrape(m.parsePrometheus('dualkv_keys 3\n'), 3000);
      return {
        escaped,
        p50: m.intervalQuantile(prev, cur, 0.5),
        p99: m.intervalQuantile(prev, cur, 0.99),
        rate: Object.fromEntries(m.commandRates(prev, cur)),
        missing: m.intervalQuantile(cur, none, 0.5),
        keys: none.gauges.get('dualkv_keys'),
      };
    }, metrics);
    expect(figures.escaped).toEqual([
      { name: 'x', labels: { a: 'q"t\\b\nl', b: '' }, value: '1500' },
      { name: 'y', labels: {}, value: 'Infinity' },
    ]);
    expect(figures.p50).toBeCloseTo(0.001, 9);
    expect(figures.p99).toBeCloseTo(0.001 + (0.009 * (19.8 - 10)) / 10, 9);
    expect(figures.rate).toEqual({ get: 10 });
    expect(figures.missing).toBeNull();
    expect(figures.keys).toBe(3);
  });
});
