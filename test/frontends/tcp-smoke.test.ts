import { afterEach, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { RawClient } from '../helpers/socket.js';

describe('TCP front-end smoke', () => {
  let srv: TestServer;
  afterEach(async () => srv?.stop());

  it('answers a text PUT then GET with the stored value', async () => {
    srv = await startTestServer();
    const c = await RawClient.connect(srv.tcpPort);
    expect(await c.text('PUT a hello world', 'GET a')).toEqual(['OK', 'VALUE hello world']);
    c.close();
  });

  it('answers RESP SET then GET the way Redis does', async () => {
    srv = await startTestServer();
    const c = await RawClient.connect(srv.tcpPort);
    c.write('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nv1\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n');
    expect(await c.until((r) => r.length >= 13)).toBe('+OK\r\n$2\r\nv1\r\n');
    c.close();
  });
});
