import { UNRESTRICTED } from '../../src/commands/access.js';
import { describe, expect, it } from 'vitest';
import { largeReplyPolicy, PeerTable, replySource } from '../../src/frontends/udp/udp-peers.js';

describe('who may get a UDP reply larger than its request (--udp-large-replies-to)', () => {
  it('loopback: 127.0.0.0/8, ::1 and IPv4-mapped loopback, nothing else', () => {
    const p = largeReplyPolicy(['loopback']);
    for (const a of ['127.0.0.1', '127.0.0.2', '127.255.255.254', '::1', '::ffff:127.0.0.1', '0:0:0:0:0:0:0:1']) expect({ a, ok: p.allows(a) }).toEqual({ a, ok: true });
    for (const a of ['10.0.0.1', '128.0.0.1', '::2', '::ffff:10.0.0.1', 'fe80::1%lo', '192.168.1.1']) expect({ a, ok: p.allows(a) }).toEqual({ a, ok: false });
  });

  it('any: everyone', () => {
    const p = largeReplyPolicy(['any']);
    expect(['10.1.2.3', '2001:db8::1', '127.0.0.1'].every((a) => p.allows(a))).toBe(true);
  });

  it('addresses and CIDR blocks of both families, together', () => {
    const p = largeReplyPolicy(['10.0.0.0/8', '192.168.1.7', 'fd00::/8', '2001:db8::5']);
    for (const a of ['10.200.0.1', '192.168.1.7', 'fd12:3456::1', '2001:db8::5', '::ffff:10.1.1.1']) expect({ a, ok: p.allows(a) }).toEqual({ a, ok: true });
    for (const a of ['11.0.0.1', '192.168.1.8', 'fe00::1', '2001:db8::6', '127.0.0.1', '::1']) expect({ a, ok: p.allows(a) }).toEqual({ a, ok: false });
  });

  it('ignores an IPv6 zone when matching', () => {
    expect(largeReplyPolicy(['fe80::/10']).allows('fe80::1%eth0')).toBe(true);
  });
});

describe('the reply cache source of an address', () => {
  it('is the IPv4 address itself, whatever the port', () => {
    expect(replySource('10.1.2.3')).toBe('10.1.2.3');
  });

  it('is the /64 of an IPv6 address, however it is written', () => {
    const s = replySource('2001:db8:1:2:3:4:5:6');
    expect(s).toBe('2001:db8:1:2::/64');
    for (const a of ['2001:db8:1:2::1', '2001:0db8:0001:0002:ffff:ffff:ffff:ffff', '2001:DB8:1:2::9%eth0']) expect(replySource(a)).toBe(s);
    expect(replySource('2001:db8:1:3::1')).not.toBe(s);
    expect(replySource('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(replySource('::1')).toBe('0:0:0:0::/64');
    expect(replySource('fe80::1:2:3:4')).toBe('fe80:0:0:0::/64');
  });

  it('is the IPv4 address for an IPv4-mapped IPv6 address (a dual-stack socket)', () => {
    expect(replySource('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(replySource('::ffff:a01:203')).toBe('10.1.2.3');
  });
});

describe('the UDP peer table', () => {
  it('decides once per address, and keeps one session per address and port', () => {
    let asked = 0;
    const table = new PeerTable({ allows: (a) => (asked++, a === '10.0.0.1') }, null, UNRESTRICTED);
    const a1 = table.get({ address: '10.0.0.1', port: 1000 });
    expect(table.get({ address: '10.0.0.1', port: 1000 })).toBe(a1);
    const a2 = table.get({ address: '10.0.0.1', port: 2000 });
    const b = table.get({ address: '10.0.0.2', port: 1000 });
    expect(a2.session).not.toBe(a1.session);
    expect([a1.largeReplies, a2.largeReplies, b.largeReplies]).toEqual([true, true, false]);
    expect([a1.source, b.source]).toEqual(['10.0.0.1', '10.0.0.2']);
    expect(a1.session.client).toBe('10.0.0.1:1000');
    expect(asked).toBe(2);
  });
});
