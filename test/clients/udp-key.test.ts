import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadUdpKey } from '../../clients/lib/udp-key.js';

// kv-udp --udp-key-file and KV_UDP_KEY (docs/PROTOCOL.md "Authenticated datagrams").

const HEX = 'ab'.repeat(32);

describe('a client UDP key', () => {
  it('is read from the file first, else from KV_UDP_KEY, else there is none', () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'kv-key-')), 'key');
    writeFileSync(file, `7:${HEX}\n`);
    expect(loadUdpKey(file, `8:${HEX}`)?.id).toBe(7);
    expect(loadUdpKey(undefined, `8:${HEX}`)?.id).toBe(8);
    expect(loadUdpKey(undefined, undefined)).toBeNull();
  });

  it('refuses a short or malformed key without echoing it', () => {
    const msg = (() => {
      try {
        loadUdpKey(undefined, '3:abcd');
      } catch (err) {
        return (err as Error).message;
      }
      return '';
    })();
    expect(msg).toMatch(/KV_UDP_KEY: UDP key 3 must be at least 32 bytes/);
    expect(msg).not.toContain('abcd');
    expect(() => loadUdpKey(undefined, 'nonsense')).toThrow(/ID:HEX/);
  });
});
