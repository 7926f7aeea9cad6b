import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeTestCa, type CertFiles, type TestCa } from '../../bench/lib/test-ca.js';
import type { TlsAuthClients } from '../../src/frontends/tls-settings.js';
import { havePeer, runPeer } from '../helpers/peers.js';
import { serverFixture, type TestServer } from '../helpers/server.js';
import { RawClient } from '../helpers/socket.js';

/** README "TLS", tested with the clients users have: redis-cli --tls, ioredis rediss://, curl https://, and node:tls. */
describe.skipIf(!havePeer('openssl', 'openssl'))('TLS on --tls-port and --https-port', () => {
  let dir: string;
  let ca: TestCa;
  let server: CertFiles;
  let client: CertFiles;
  let stranger: CertFiles;
  /** The files the server is started with: copies, so that a reload test can overwrite them. */
  let live: CertFiles;
  const fixture = serverFixture();
  const clients: Array<{ close(): void }> = [];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'dualkv-tls-'));
    ca = await makeTestCa(dir);
    server = await ca.issue('server', 'server');
    client = await ca.issue('client', 'client');
    const other = await makeTestCa(dir, 'other-ca');
    stranger = await other.issue('stranger', 'client');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });

  async function start(authClients: TlsAuthClients = 'no'): Promise<TestServer> {
    live = { cert: path.join(dir, 'live.crt'), key: path.join(dir, 'live.key') };
    copyFileSync(server.cert, live.cert);
    copyFileSync(server.key, live.key);
    return fixture.start({ httpPort: null, tls: { port: 0, httpsPort: 0, cert: live.cert, key: live.key, ca: ca.cert, authClients } });
  }

  /** A TLS client that trusts the test CA, with `extra` (a client certificate, versions) on top. */
  async function connect(extra: tls.ConnectionOptions = {}): Promise<RawClient> {
    const c = await RawClient.connectTls(fixture.srv.server.tlsPort, { ca: readFileSync(ca.cert), servername: 'localhost', ...extra });
    clients.push(c);
    return c;
  }

  const withCert = (files: CertFiles): tls.ConnectionOptions => ({ cert: readFileSync(files.cert), key: readFileSync(files.key) });

  /** The PING a client refused after its handshake (TLS 1.3 sends the refusal then) never gets answered: the connection ends. */
  async function expectRefused(extra: tls.ConnectionOptions): Promise<void> {
    const outcome = await connect(extra).then(
      async (c) => {
        c.socket.on('error', () => undefined);
        c.write('PING\r\n');
        await c.waitClosed();
        return c.received;
      },
      (err: NodeJS.ErrnoException) => err.code ?? err.message,
    );
    expect(outcome).not.toContain('+PONG');
  }

  const serialOf = (c: RawClient) => (c.socket as tls.TLSSocket).getPeerCertificate().serialNumber;

  describe.skipIf(!havePeer('redis-cli', 'redis-tools'))('redis-cli --tls', () => {
    it('sets and gets a key over TLS, while plain TCP on the same server keeps working', async () => {
      const srv = await start();
      const cli = (...args: string[]) => runPeer('redis-cli', ['--tls', '--cacert', ca.cert, '-h', '127.0.0.1', '-p', String(srv.server.tlsPort), ...args]);
      expect((await cli('set', 'greeting', 'hello over tls')).stdout.toString()).toBe('OK\n');
      expect((await cli('get', 'greeting')).stdout.toString()).toBe('hello over tls\n');
      const plain = await fixture.connect();
      expect(await plain.text('GET greeting')).toEqual(['VALUE hello over tls']);
      // The same accept path: a TLS client is a client like any other in CLIENT LIST.
      const list = (await cli('client', 'list')).stdout.toString();
      expect(list).toContain(`laddr=127.0.0.1:${srv.server.tlsPort} `);
      expect(list).toContain(`laddr=127.0.0.1:${srv.tcpPort} `);
    });

    it('fails without the CA (the server certificate does not verify)', async () => {
      const srv = await start();
      const r = await runPeer('redis-cli', ['--tls', '-h', '127.0.0.1', '-p', String(srv.server.tlsPort), 'ping']);
      expect(r.stdout.toString() + r.stderr).not.toContain('PONG');
      expect(r.stderr + r.stdout.toString()).toMatch(/SSL|certificate/i);
    });
  });

  it('serves ioredis over rediss:// with the CA', async () => {
    const srv = await start();
    const redis = new Redis(`rediss://127.0.0.1:${srv.server.tlsPort}`, { tls: { ca: readFileSync(ca.cert), servername: 'localhost' }, maxRetriesPerRequest: 0, retryStrategy: () => null });
    clients.push({ close: () => redis.disconnect() });
    expect(await redis.set('k', 'v')).toBe('OK');
    expect(await redis.get('k')).toBe('v');
    expect(await redis.info('server')).toContain('tcp_port:');
    expect(srv.server.backend.get('k')?.value).toBe('v');
  });

  describe.skipIf(!havePeer('curl', 'curl'))('curl https://', () => {
    it('puts and gets a key with --cacert, and refuses to talk without it', async () => {
      const srv = await start();
      const url = `https://127.0.0.1:${srv.server.httpsPort}/v1/kv/k`;
      expect((await runPeer('curl', ['-sS', '--cacert', ca.cert, '-X', 'PUT', '--data-binary', 'over https', url])).code).toBe(0);
      const got = await runPeer('curl', ['-sS', '--cacert', ca.cert, url]);
      expect(got).toMatchObject({ code: 0, stdout: Buffer.from('over https') });
      // curl exits 60 when the peer's certificate cannot be verified.
      expect((await runPeer('curl', ['-sS', url])).code).toBe(60);
      expect((await runPeer('curl', ['-sS', '--cacert', ca.cert, `https://localhost:${srv.server.httpsPort}/livez`])).stdout.toString()).toContain('"ok"');
    });
  });

  it('refuses TLS 1.1 in the handshake and logs it, and serves TLS 1.2', async () => {
    const srv = await start();
    const old = await connect({ minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }).then(
      () => 'connected',
      (err: NodeJS.ErrnoException) => err.code,
    );
    expect(old).toBe('ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION');
    const line = await srv.logs.waitFor('TLS handshake failed; connection closed');
    expect(line).toMatchObject({ transport: 'tls', err: { code: 'ERR_SSL_UNSUPPORTED_PROTOCOL' } });
    const v12 = await connect({ maxVersion: 'TLSv1.2' });
    expect((v12.socket as tls.TLSSocket).getProtocol()).toBe('TLSv1.2');
    expect(await v12.text('PING')).toEqual(['PONG']);
  });

  it('closes a plain client on the TLS port and goes on serving', async () => {
    const srv = await start();
    const plain = await RawClient.connect(srv.server.tlsPort);
    clients.push(plain);
    plain.write('PING\r\n');
    await plain.waitClosed();
    expect(plain.received).not.toContain('PONG');
    expect(await (await connect()).text('PING')).toEqual(['PONG']);
  });

  describe('--tls-auth-clients yes', () => {
    it('refuses a client without a certificate, and one with a certificate from another CA', async () => {
      await start('yes');
      await expectRefused({});
      await expectRefused(withCert(stranger));
      expect(fixture.srv.server.backend.size).toBe(0);
    });

    it('serves a client with a certificate signed by --tls-ca, over TLS and HTTPS', async () => {
      const srv = await start('yes');
      const c = await connect(withCert(client));
      expect(await c.text('SET a 1', 'GET a')).toEqual(['OK', 'VALUE 1']);
      const res = await httpsGet(srv.server.httpsPort, '/v1/kv/a', withCert(client));
      expect(res).toEqual({ status: 200, body: '1' });
      await expect(httpsGet(srv.server.httpsPort, '/v1/kv/a', {})).rejects.toThrow();
    });
  });

  describe('--tls-auth-clients optional', () => {
    it('serves a client with no certificate and one with a good certificate', async () => {
      await start('optional');
      expect(await (await connect()).text('PING')).toEqual(['PONG']);
      expect(await (await connect(withCert(client))).text('PING')).toEqual(['PONG']);
    });

    it('refuses a certificate that does not verify, before a command runs, and logs why', async () => {
      const srv = await start('optional');
      await expectRefused(withCert(stranger));
      const line = await srv.logs.waitFor('connection refused: the client certificate does not verify against --tls-ca');
      expect(line).toMatchObject({ transport: 'tls' });
      expect(srv.server.stats.connectionsRejected).toBe(1);
      const res = await httpsGet(srv.server.httpsPort, '/livez', withCert(stranger)).catch((err: Error) => err);
      expect(res).toBeInstanceOf(Error);
    });
  });

  describe('reload on SIGHUP (KvServer.reload)', () => {
    it('keeps an open TLS connection working, and gives new connections the new certificate', async () => {
      const srv = await start();
      const before = await connect();
      const oldSerial = serialOf(before);
      const renewed = await ca.issue('renewed', 'server');
      copyFileSync(renewed.cert, live.cert);
      copyFileSync(renewed.key, live.key);
      srv.server.reload();
      expect(srv.logs.find('TLS certificates reloaded')).toHaveLength(1);
      expect(await before.text('SET k still-here', 'GET k')).toEqual(['OK', 'VALUE still-here']);
      expect(serialOf(before)).toBe(oldSerial);
      const after = await connect();
      expect(serialOf(after)).not.toBe(oldSerial);
      expect(serialOf(after)).toBe(certSerial(renewed.cert));
      expect(await after.text('GET k')).toEqual(['VALUE still-here']);
      expect((await httpsPeer(srv.server.httpsPort)).serialNumber).toBe(certSerial(renewed.cert));
    });

    it('keeps the old certificate when the new files do not load, and says why', async () => {
      const srv = await start();
      const before = await connect();
      const oldSerial = serialOf(before);
      writeFileSync(live.cert, 'not a certificate\n');
      srv.server.reload();
      expect(srv.logs.find('TLS certificates not reloaded: the ones loaded before stay in force')).toMatchObject([{ cert: live.cert }]);
      expect(await before.text('PING')).toEqual(['PONG']);
      const after = await connect();
      expect(serialOf(after)).toBe(oldSerial);
      expect((await httpsPeer(srv.server.httpsPort)).serialNumber).toBe(oldSerial);
    });
  });

  it('refuses to start when a file cannot be read, naming it', async () => {
    const missing = path.join(dir, 'nope.crt');
    const err = await fixture.start({ tls: { port: 0, httpsPort: null, cert: missing, key: server.key, ca: null, authClients: 'no' } }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'CONFIG' });
    expect((err as Error).message).toContain(`--tls-cert ${missing} cannot be read`);
  });

  it('refuses to start on a key that is not the certificate\'s', async () => {
    const err = await fixture.start({ tls: { port: 0, httpsPort: null, cert: server.cert, key: client.key, ca: null, authClients: 'no' } }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'CONFIG' });
    expect((err as Error).message).toContain('do not make a TLS context');
  });

  /** The certificate's serial as node:tls shows it (upper-case hex). */
  function certSerial(file: string): string {
    return new X509Certificate(readFileSync(file)).serialNumber;
  }

  function httpsGet(port: number, urlPath: string, extra: tls.ConnectionOptions): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const s = tls.connect({ port, host: '127.0.0.1', ca: readFileSync(ca.cert), servername: 'localhost', ...extra }, () => {
        s.write(`GET ${urlPath} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
      });
      let text = '';
      s.setEncoding('utf8').on('data', (d: string) => (text += d));
      s.on('error', reject);
      s.on('close', () => {
        const m = /^HTTP\/1\.1 (\d+)/.exec(text);
        if (m === null) return reject(new Error(`no HTTP reply: ${JSON.stringify(text)}`));
        resolve({ status: Number(m[1]), body: text.slice(text.indexOf('\r\n\r\n') + 4) });
      });
    });
  }

  function httpsPeer(port: number): Promise<tls.PeerCertificate> {
    return new Promise((resolve, reject) => {
      const s = tls.connect({ port, host: '127.0.0.1', ca: readFileSync(ca.cert), servername: 'localhost' }, () => {
        resolve(s.getPeerCertificate());
        s.destroy();
      });
      s.on('error', reject);
    });
  }
});
