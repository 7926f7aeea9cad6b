import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeKeyPath, encodeKeyPath } from '../../src/frontends/http/http-keys.js';

/** docs/HTTP.md §2: keys in URLs are percent-encoded bytes. */
describe('keys in URLs', () => {
  it('decodes %XX to the byte, leaves other bytes as they are, and takes + as a plus', () => {
    expect(decodeKeyPath('a%2Fb')).toBe('a/b');
    expect(decodeKeyPath('a/b')).toBe('a/b');
    expect(decodeKeyPath('a+b%20c')).toBe('a+b c');
    expect(decodeKeyPath('%ff%FE')).toBe('\xff\xfe');
    expect(decodeKeyPath('100%25')).toBe('100%');
  });

  it('refuses a % not followed by two hex digits', () => {
    for (const bad of ['%', '%2', '%zz', 'a%g1', '%%']) expect(decodeKeyPath(bad), bad).toBeNull();
  });

  it('encodes every byte but the unreserved ones and /, and decoding gives the key back, for any bytes', () => {
    expect(encodeKeyPath('a b/c%\xff~')).toBe('a%20b/c%25%FF~');
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const key = Buffer.from(bytes).toString('latin1');
        const encoded = encodeKeyPath(key);
        return /^[A-Za-z0-9\-._~/%]*$/.test(encoded) && decodeKeyPath(encoded) === key;
      }),
    );
  });
});
