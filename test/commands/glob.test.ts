import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileGlob } from '../../src/commands/glob.js';
import { RawClient } from '../helpers/socket.js';
import { startTestServer } from '../helpers/server.js';

/**
 * Redis 7's stringmatchlen (src/util.c), ported line by line with its recursion:
 * the reference the linear matcher must agree with. Exponential on patterns with
 * many stars, so only ever fed short ones.
 */
function redisStringMatch(p: string, s: string, nocase: boolean): boolean {
  // The one deliberate difference: Redis never matches an empty string, not even with `*`
  // (its KEYS and SCAN treat a lone `*` apart, so that it does); here stars match it.
  if (s.length === 0 && /^\**$/.test(p)) return true;
  return stringMatchLen(p, s, nocase);
}

function stringMatchLen(p: string, s: string, nocase: boolean): boolean {
  const low = (c: number) => (c >= 0x41 && c <= 0x5a ? c + 0x20 : c);
  let pi = 0;
  let si = 0;
  const pc = (k = 0) => (pi + k < p.length ? p.charCodeAt(pi + k) : 0);
  while (pi < p.length && si < s.length) {
    switch (p[pi]) {
      case '*':
        while (pi + 1 < p.length && p[pi + 1] === '*') pi++;
        if (pi + 1 === p.length) return true;
        for (let k = si; k < s.length; k++) if (stringMatchLen(p.slice(pi + 1), s.slice(k), nocase)) return true;
        return false;
      case '?':
        si++;
        break;
      case '[': {
        pi++;
        const not = pc() === 0x5e;
        if (not) pi++;
        let match = false;
        for (;;) {
          if (pc() === 0x5c && p.length - pi >= 2) {
            pi++;
            if (pc() === s.charCodeAt(si)) match = true;
          } else if (pc() === 0x5d) {
            break;
          } else if (pi >= p.length) {
            pi--;
            break;
          } else if (p.length - pi >= 3 && pc(1) === 0x2d) {
            let start = pc();
            let end = pc(2);
            let c = s.charCodeAt(si);
            if (start > end) [start, end] = [end, start];
            if (nocase) {
              start = low(start);
              end = low(end);
              c = low(c);
            }
            pi += 2;
            if (c >= start && c <= end) match = true;
          } else if (nocase ? low(pc()) === low(s.charCodeAt(si)) : pc() === s.charCodeAt(si)) {
            match = true;
          }
          pi++;
        }
        if (not) match = !match;
        if (!match) return false;
        si++;
        break;
      }
      default:
        if (p[pi] === '\\' && p.length - pi >= 2) pi++;
        if (nocase ? low(pc()) !== low(s.charCodeAt(si)) : pc() !== s.charCodeAt(si)) return false;
        si++;
    }
    pi++;
    if (si === s.length) while (pi < p.length && p[pi] === '*') pi++;
  }
  return pi >= p.length && si === s.length;
}

const cases: Array<[pattern: string, subject: string, nocase: boolean, expected: boolean]> = [
  ['*', '', false, true],
  ['*', 'anything', false, true],
  ['h?llo', 'hello', false, true],
  ['h?llo', 'hllo', false, false],
  ['h*llo', 'heeeello', false, true],
  ['h[ae]llo', 'hallo', false, true],
  ['h[ae]llo', 'hillo', false, false],
  ['h[^e]llo', 'hallo', false, true],
  ['h[^e]llo', 'hello', false, false],
  ['h[a-b]llo', 'hbllo', false, true],
  ['h[b-a]llo', 'hallo', false, true], // a reversed range is swapped
  ['h\\*llo', 'h*llo', false, true],
  ['h\\*llo', 'hello', false, false],
  ['[\\]]', ']', false, true],
  ['[abc', 'b', false, true], // an unclosed class runs to the end of the pattern
  ['maxMEMORY*', 'maxmemory-clients', true, true],
  ['MAXMEMORY', 'maxmemory', false, false],
  ['*-size', 'max-value-size', true, true],
  ['a*b*c', 'aXXbYYc', false, true],
  ['a*b*c', 'aXXbYY', false, false],
  ['', '', false, true],
  ['', 'x', false, false],
  ['**', '', false, true],
];

describe('glob matcher (Redis stringmatchlen semantics)', () => {
  it.each(cases)('%j against %j (nocase %s) is %s', (pattern, subject, nocase, expected) => {
    expect(compileGlob(pattern, nocase)(subject)).toBe(expected);
    expect(redisStringMatch(pattern, subject, nocase)).toBe(expected);
  });

  it('agrees with a port of Redis stringmatchlen on random patterns and strings', () => {
    const alphabet = fc.constantFrom('a', 'b', 'A', '*', '?', '[', ']', '^', '-', '\\', 'x', '\x00', '\xff');
    fc.assert(
      fc.property(fc.string({ unit: alphabet, maxLength: 10 }), fc.string({ unit: alphabet, maxLength: 10 }), fc.boolean(), (pattern, subject, nocase) => {
        expect(compileGlob(pattern, nocase)(subject)).toBe(redisStringMatch(pattern, subject, nocase));
      }),
      { numRuns: 20_000 },
    );
  });

  it('answers the patterns that stall a backtracking matcher (CVE-2022-36021) without going back more than once per byte', () => {
    // The regular expression this replaces took ~3x longer per extra star: 40 of them would never finish.
    const subject = 'a'.repeat(2000);
    expect(compileGlob('*'.repeat(40) + '!', true)(subject)).toBe(false);
    expect(compileGlob('*a'.repeat(200) + '!', false)(subject)).toBe(false);
    expect(compileGlob('*a*a*a*a*a*a*a*a*a*a*b', false)(subject)).toBe(false);
    expect(compileGlob('*a*a*a*a*a*a*a*a*a*a', false)(subject)).toBe(true);
  });
});

describe('CONFIG GET with a pathological pattern', () => {
  it('answers at once, and the server goes on answering everyone else', async () => {
    const srv = await startTestServer();
    const a = await RawClient.connect(srv.tcpPort);
    const b = await RawClient.connect(srv.tcpPort);
    try {
      const pattern = '*'.repeat(60) + '!';
      a.write(`*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$${pattern.length}\r\n${pattern}\r\n`);
      b.write('*1\r\n$4\r\nPING\r\n');
      expect(await a.until((r) => r.includes('\r\n'))).toBe('*0\r\n');
      expect(await b.until((r) => r.includes('\r\n'))).toBe('+PONG\r\n');
      a.clear();
      a.write('*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$9\r\nmax*-si?e\r\n');
      const reply = await a.until((r) => r.startsWith('*') && r.split('\r\n').length > 8);
      expect(reply).toContain('max-key-size');
      expect(reply).toContain('max-value-size');
    } finally {
      a.close();
      b.close();
      await srv.stop();
    }
  });
});
