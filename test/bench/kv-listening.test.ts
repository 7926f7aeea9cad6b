import { describe, expect, it } from 'vitest';
import { httpPortFromLog } from '../../bench/lib/kv-listening.js';

const starting = '{"level":"info","time":"2025-01-01T00:00:00.000Z","pid":7,"config":{"httpPort":0},"msg":"starting"}';
const listening = '{"level":"info","time":"2025-01-01T00:00:00.010Z","pid":7,"host":"127.0.0.1","tcpPort":7379,"udpPort":7379,"httpPort":41234,"msg":"listening"}';

describe("kv-server's listening line", () => {
  it('gives the HTTP port it picked', () => {
    expect(httpPortFromLog(`${starting}\n${listening}\n`)).toBe(41234);
  });

  it('is not there yet before the line is written, or while it is written only in part', () => {
    expect(httpPortFromLog(`${starting}\n`)).toBeNull();
    expect(httpPortFromLog(`${starting}\n${listening.slice(0, 100)}`)).toBeNull();
  });

  it('gives no port when the server listens without HTTP', () => {
    expect(httpPortFromLog('{"level":"info","tcpPort":7379,"udpPort":7379,"msg":"listening"}\n')).toBeNull();
  });

  it('reads only a line whose message is listening', () => {
    expect(httpPortFromLog('{"msg":"not \\"listening\\"","httpPort":1}\n')).toBeNull();
  });
});
