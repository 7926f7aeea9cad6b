/// <reference lib="dom" />
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
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
interface SseEvent {
  type: string;
  data: string;
  id: string;
}
interface SseModule {
  SseParser: new () => { push(text: string): SseEvent[]; retry: number | null };
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
    for (const path of ['/ui/../package.json', '/ui/%2e%2e/package.json', '/ui/..%2Fpackage.json', '/ui/nope.js', '/ui/console', '/ui//index.html', '/ui/console.js/', '/ui/CONSOLE.JS']) {
      const r = await rawGet(srv, path);
      expect([r.status, r.type], path).toEqual([404, 'application/json; charset=utf-8']);
      expect((JSON.parse(r.body) as { error: { code: string } }).error.code, path).toBe('NOT_FOUND');
    }
    // /uix is no console path: it names the key uix in the seed's API (docs/HTTP.md §10), which is not there.
    const uix = await rawGet(srv, '/uix');
    expect([uix.status, uix.type, JSON.parse(uix.body)]).toEqual([404, 'application/json; charset=utf-8', { error: 'key not found', code: 'NOT_FOUND' }]);
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
  /** Every console message of the page, and every URL it asked for: where a token must never show. */
  let consoleLines: string[] = [];
  let urls: string[] = [];
  // Users for the signed-in cases (README "Authentication"): the same file as test/auth's.
  const usersDir = mkdtempSync(path.join(tmpdir(), 'dualkv-console-auth-'));
  const usersFile = path.join(usersDir, 'users');
  const PASSWORDS = { app: 'app-pass-1', ro: 'ro-pass-2' } as const;
  writeFileSync(usersFile, `app readwrite plain:${PASSWORDS.app}\nro read plain:${PASSWORDS.ro}\n`, { mode: 0o600 });
  afterAll(() => rmSync(usersDir, { recursive: true, force: true }));

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

  /** The page on a fresh server; with `auth`, a server with the users above, and RESP signed in as `app`. */
  async function open(options: { auth?: boolean } = {}): Promise<{ srv: TestServer; page: Page; redis: Redis }> {
    const srv = await fx.start({ httpPort: 0, ...(options.auth ? { auth: { usersFile, requirepass: null, protectedMode: true } } : {}) });
    redis = new Redis({ host: '127.0.0.1', port: srv.tcpPort, maxRetriesPerRequest: 0, retryStrategy: () => null, ...(options.auth ? { username: 'app', password: PASSWORDS.app } : {}) });
    const p = await browser.newPage();
    page = p;
    problems = [];
    consoleLines = [];
    urls = [];
    await p.setViewport({ width: 1280, height: 1000 });
    p.on('console', (m) => {
      consoleLines.push(m.text());
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    p.on('request', (r) => urls.push(r.url()));
    p.on('pageerror', (e) => problems.push(`page error: ${e instanceof Error ? e.message : String(e)}`));
    p.on('requestfailed', (r) => problems.push(`failed: ${r.method()} ${r.url()} ${r.failure()?.errorText ?? ''}`));
    p.on('response', (r) => {
      if (r.status() >= 400) problems.push(`status ${r.status()}: ${r.request().method()} ${r.url()}`);
    });
    await p.goto(`${base(srv)}/ui`, { waitUntil: 'load' });
    if (options.auth) await p.waitForSelector('#sign-in:not([hidden])', { timeout: 10_000 });
    // The change stream is open (and the first listing done): what happens from here shows up live.
    else await followingLive(p);
    return { srv, page: p, redis };
  }

  const followingLive = (p: Page) => p.waitForFunction(() => document.getElementById('watch-status')?.textContent === 'following changes live', { timeout: 10_000 });

  /** Types a user and password into the sign-in form and presses Sign in. */
  async function signIn(p: Page, user: string, password: string): Promise<void> {
    await p.$eval('#sign-in-user', (i) => ((i as HTMLInputElement).value = ''));
    await p.type('#sign-in-user', user);
    await p.type('#sign-in-password', password);
    await p.click('#sign-in-submit');
  }

  /** Signed in as `user`: the control says who, and the key list follows changes with the user's token. */
  async function signedIn(p: Page, user: keyof typeof PASSWORDS): Promise<void> {
    await signIn(p, user, PASSWORDS[user]);
    await p.waitForSelector('#signed-in:not([hidden])', { timeout: 10_000 });
    expect(await p.$eval('#signed-in-as', (s) => s.textContent)).toBe(user);
    expect(await p.$eval('#sign-in', (f) => (f as HTMLElement).hidden)).toBe(true);
    await followingLive(p);
  }

  /** No password shows in the page (its text, its markup, any field), its console, a URL it asked for, storage or a cookie. */
  async function tokenNowhere(p: Page): Promise<void> {
    const seen = await p.evaluate(() => ({
      text: document.body.innerText,
      html: document.documentElement.outerHTML,
      fields: Array.from(document.querySelectorAll('input, textarea'), (f) => (f as HTMLInputElement).value),
      storage: [localStorage.length, sessionStorage.length],
      cookie: document.cookie,
    }));
    expect(seen.storage).toEqual([0, 0]);
    expect(seen.cookie).toBe('');
    const places = [seen.text, seen.html, ...seen.fields, ...consoleLines, ...urls];
    expect(places.length).toBeGreaterThan(3);
    for (const password of Object.values(PASSWORDS)) for (const place of places) expect(place).not.toContain(password);
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

  it('a server with no users shows no sign-in', { timeout: 60_000 }, async () => {
    const { page: p } = await open();
    expect(await p.$eval('#sign-in', (f) => (f as HTMLElement).hidden)).toBe(true);
    expect(await p.$eval('#signed-in', (f) => (f as HTMLElement).hidden)).toBe(true);
    expect(problems).toEqual([]);
  });

  it('against a server with users the page asks to sign in; a wrong password is refused with the server\'s WRONG_PASS; the readwrite user signs in and the charts and the live key list work; Sign out forgets the token', { timeout: 60_000 }, async () => {
    const { page: p, redis: r } = await open({ auth: true });
    // The first calls were answered 401: the sign-in says why, and nothing is shown meanwhile.
    expect(await p.$eval('#sign-in-message', (m) => m.textContent)).toContain('NO_AUTH');
    await p.waitForFunction(() => document.getElementById('figures-status')?.textContent === 'sign in to see the figures', { timeout: 10_000 });
    await p.waitForFunction(() => document.getElementById('list-status')?.textContent === 'sign in to see the keys', { timeout: 10_000 });
    expect(await p.$eval('#signed-in', (s) => (s as HTMLElement).hidden)).toBe(true);

    await signIn(p, 'app', 'not-the-password');
    await p.waitForFunction(() => document.getElementById('sign-in-message')?.textContent?.includes('WRONG_PASS'), { timeout: 10_000 });
    expect(await p.$eval('#sign-in-message', (m) => m.textContent)).toBe('Not signed in: WRONG_PASS: invalid username-password pair or user is disabled.');
    expect(await p.$eval('#sign-in-password', (i) => (i as HTMLInputElement).value)).toBe('');
    expect(await p.$eval('#signed-in', (s) => (s as HTMLElement).hidden)).toBe(true);

    await signedIn(p, 'app');
    // The charts read /metrics with the token…
    await p.waitForFunction(() => Number(document.querySelector<HTMLCanvasElement>('#chart-keys canvas')?.dataset.points) >= 2, { timeout: 10_000 });
    // …and a key put over RESP (as the same user) arrives through the fetch()-read change stream.
    await r.set('signed:in', 'over RESP');
    await (await p.waitForSelector('#key-list button[data-key="signed%3Ain"]', { timeout: 10_000 }))?.click();
    await valueShows(p, 'over RESP');
    await p.waitForFunction(() => (JSON.parse(document.querySelector<HTMLCanvasElement>('#chart-keys canvas')?.dataset.latest ?? '{}') as Record<string, number>).keys === 1, { timeout: 10_000 });
    await typeAndSave(p, 'from the browser');
    await p.waitForFunction(() => document.getElementById('editor-message')?.textContent?.startsWith('Saved: version'), { timeout: 10_000 });
    expect(await r.get('signed:in')).toBe('from the browser');
    await tokenNowhere(p);
    // The only refusals were the calls made before signing in, and the wrong password.
    expect(problems.filter((m) => !m.includes('401'))).toEqual([]);
    expect(problems.filter((m) => m.startsWith('status')).length).toBeGreaterThanOrEqual(3);

    await p.click('#sign-out');
    await p.waitForSelector('#sign-in:not([hidden])', { timeout: 10_000 });
    await p.waitForFunction(() => document.getElementById('list-status')?.textContent === 'sign in to see the keys', { timeout: 10_000 });
    expect(await p.$$eval('#key-list button', (b) => b.length)).toBe(0);
    await tokenNowhere(p);
  });

  it('a read user sees the keys, but an edit or a delete is refused with "this user may only read" (403 NO_PERM), and the key is unchanged over RESP', { timeout: 60_000 }, async () => {
    const { srv, page: p, redis: r } = await open({ auth: true });
    await r.set('guarded', 'original');
    await signedIn(p, 'ro');
    await (await p.waitForSelector('#key-list button[data-key="guarded"]', { timeout: 10_000 }))?.click();
    await valueShows(p, 'original');
    await typeAndSave(p, 'overwritten?');
    await p.waitForFunction(() => document.getElementById('editor-message')?.textContent?.startsWith('Not saved'), { timeout: 10_000 });
    expect(await p.$eval('#editor-message', (m) => m.textContent)).toBe('Not saved: this user may only read (NO_PERM)');
    await p.click('#editor-delete');
    await p.click('#editor-delete-yes');
    await p.waitForFunction(() => document.getElementById('editor-message')?.textContent?.startsWith('Not deleted'), { timeout: 10_000 });
    expect(await p.$eval('#editor-message', (m) => m.textContent)).toBe('Not deleted: this user may only read (NO_PERM)');
    expect(await r.get('guarded')).toBe('original');
    // Still signed in: a 403 is about the action, not the user.
    expect(await p.$eval('#sign-in', (f) => (f as HTMLElement).hidden)).toBe(true);
    await tokenNowhere(p);
    expect(problems.filter((m) => m.startsWith('status 403'))).toEqual([`status 403: PUT ${base(srv)}/v1/kv/guarded`, `status 403: DELETE ${base(srv)}/v1/kv/guarded`]);
  });

  it("the page's reader of the change stream (sse.js) reads Server-Sent Events as the standard says and as Chromium's own EventSource reads them, however the text is cut into chunks", { timeout: 60_000 }, async () => {
    const { page: p } = await open();
    // Every rule of the standard's parser the server's stream could meet, and some it could not.
    const fixture = [
      '\ufeff: a comment, as the server sends first\n\n',
      'id: 1\nevent: put\ndata: {"op":"put","key":"a","version":"1"}\n\n',
      'data:no space\ndata:  two spaces\n\n', // one space after the colon is dropped, no more; the id carries over
      'event: only-a-type\n\n', // no data: no event
      'id: 7\r\nevent: del\r\ndata: crlf\r\n\r\n',
      'id: 8\revent: expire\rdata: cr alone\r\r',
      'id: a\0b\ndata: an id with NUL is ignored\n\n',
      'retry: 1500\nretry: soon\nunknown: field\ndata: after retry\n\n',
      'data: multi\ndata:\ndata: line\n:\n\n',
      'id\ndata\n\n', // a field with no colon: an empty value (the id is reset)
      'event: dropped\ndata: {"revision":"9"}\n\n',
      'data: not ended by a blank line, so never an event',
    ].join('');
    const expected: SseEvent[] = [
      { type: 'put', data: '{"op":"put","key":"a","version":"1"}', id: '1' },
      { type: 'message', data: 'no space\n two spaces', id: '1' },
      { type: 'del', data: 'crlf', id: '7' },
      { type: 'expire', data: 'cr alone', id: '8' },
      { type: 'message', data: 'an id with NUL is ignored', id: '8' },
      { type: 'message', data: 'after retry', id: '8' },
      { type: 'message', data: 'multi\n\nline', id: '8' },
      { type: 'message', data: '', id: '' },
      { type: 'dropped', data: '{"revision":"9"}', id: '' },
    ];
    const sse = await pageModule<SseModule>(p, 'sse.js');
    const read = await p.evaluate(
      (m, text) => {
        const parse = (chunks: string[]) => {
          const parser = new m.SseParser();
          return { events: chunks.flatMap((c) => parser.push(c)), retry: parser.retry };
        };
        const whole = parse([text]);
        // Cut in two at every place (a CR LF split across chunks included), and one character at a time.
        const cuts = Array.from({ length: text.length + 1 }, (_, i) => JSON.stringify(parse([text.slice(0, i), '', text.slice(i)]).events)).filter((e) => e !== JSON.stringify(whole.events));
        return { whole, cuts, single: parse([...text]).events };
      },
      sse,
      fixture,
    );
    expect(read.whole.events).toEqual(expected);
    expect(read.whole.retry).toBe(1500);
    expect(read.cuts).toEqual([]);
    expect(read.single).toEqual(expected);

    // Chromium's EventSource on the same bytes, served from the page's own origin.
    await p.setRequestInterception(true);
    p.on('request', (req) => {
      if (req.isInterceptResolutionHandled()) return;
      if (req.url().endsWith('/sse-fixture')) void req.respond({ status: 200, contentType: 'text/event-stream; charset=utf-8', body: fixture });
      else void req.continue();
    });
    const reference = await p.evaluate(
      (types) =>
        new Promise<SseEvent[]>((resolve) => {
          const got: SseEvent[] = [];
          const source = new EventSource('/sse-fixture');
          for (const type of types) source.addEventListener(type, (e) => got.push({ type, data: (e as MessageEvent<string>).data, id: (e as MessageEvent<string>).lastEventId }));
          // The end of the body is an error (and a reconnect, which is not wanted here).
          source.onerror = () => {
            source.close();
            resolve(got);
          };
        }),
      [...new Set(expected.map((e) => e.type))],
    );
    expect(reference).toEqual(expected);
  });
});
