import { expect, it } from 'vitest';
import { forEachBackend, listAll } from './backends.js';

/** Issue 15: the text dialect, UDP and HTTP front-ends of the earlier issues, the same cases over every backend. */
forEachBackend((b) => {
  it('a pipeline runs in order and reads its own writes, over RESP and the text dialect', async () => {
    const { redis, text } = await b.serve();
    const replies = await redis.pipeline().set('a', '1').get('a').incr('n').get('n').append('a', '2').get('a').del('a').exists('a').exec();
    expect(replies).toEqual([[null, 'OK'], [null, '1'], [null, 1], [null, '1'], [null, 2], [null, '12'], [null, 1], [null, 0]]);
    const c = await text();
    expect(await c.text('PUT p 1', 'GET p', 'INCR p', 'GET p', 'DEL p', 'GET p')).toEqual(['OK', 'VALUE 1', 'INT 2', 'VALUE 2', 'DELETED', 'NOT_FOUND']);
  });

  it('text dialect: PUT, GET, EXISTS and DEL, quoted bytes, SETEX and TTL', async () => {
    const { redis, text } = await b.serve();
    const c = await text();
    expect(await c.text('PUT greeting hello world', 'GET greeting', 'EXISTS greeting', 'DEL greeting', 'GET greeting', 'DEL greeting')).toEqual([
      'OK',
      'VALUE hello world',
      'INT 1',
      'DELETED',
      'NOT_FOUND',
      'NOT_FOUND',
    ]);
    expect(await c.text('PUT bytes "line one\\nline two\\x00\\xff"', 'GET bytes')).toEqual(['OK', 'VALUE "line one\\nline two\\x00\\xff"']);
    expect(await redis.getBuffer('bytes')).toEqual(Buffer.from('line one\nline two\x00\xff', 'latin1'));
    expect(await c.text('SETEX s 100 rest of the line', 'GET s')).toEqual(['OK', 'VALUE rest of the line']);
    const [ttl] = await c.text('TTL s');
    expect(Number((ttl as string).replace(/^INT /, ''))).toBeGreaterThan(98);
    expect(await c.text('SET n "v" NX', 'SET n "w" NX', 'GET n')).toEqual(['OK', 'NOT_FOUND', 'VALUE v']);
    expect(await c.text('INCR counter', 'INCR counter')).toEqual(['INT 1', 'INT 2']);
  });

  it('text dialect: GETVER, CAS and CAD with versions', async () => {
    const { text } = await b.serve();
    const c = await text();
    expect(await c.text('GETVER k')).toEqual(['NOT_FOUND']);
    const [created] = await c.text('CAS k 0 "first"');
    expect(created).toMatch(/^OK \d+$/);
    const v1 = Number((created as string).slice(3));
    expect(await c.text('GETVER k')).toEqual([`VERSIONED ${v1} first`]);
    expect(await c.text(`CAS k ${v1 + 1} "x"`)).toEqual([`CONFLICT ${v1}`]);
    const [cad] = await c.text(`CAD k ${v1}`);
    expect(cad).toMatch(/^OK 0$/);
    expect(await c.text('GET k')).toEqual(['NOT_FOUND']);
  });

  it('UDP: PUT, GET, DEL, EXPIRE and PERSIST, with what RESP sees agreeing', async () => {
    const { redis, udp } = await b.serve();
    const u = await udp();
    await u.put('k', 'over udp');
    expect((await u.get('k'))?.toString()).toBe('over udp');
    expect(await redis.get('k')).toBe('over udp');
    expect(await u.expire('k', 100_000)).toBe(true);
    expect(await redis.pttl('k')).toBeGreaterThan(98_000);
    expect(await u.persist('k')).toBe(true);
    expect(await redis.ttl('k')).toBe(-1);
    expect(await u.expire('none', 1000)).toBe(false);
    await u.put('t', 'ttl', { ttlMs: 50_000 });
    expect(await redis.pttl('t')).toBeGreaterThan(48_000);
    expect(await u.del('k')).toBe(true);
    expect(await u.del('k')).toBe(false);
    expect(await u.get('k')).toBeNull();
    expect(await redis.exists('k')).toBe(0);
    const bytes = Buffer.from([0, 1, 2, 0xfe, 0xff]);
    await u.put(bytes, bytes);
    expect(await redis.getBuffer(bytes)).toEqual(bytes);
  });

  it('UDP: versions and compare-and-set', async () => {
    const { redis, udp } = await b.serve();
    const u = await udp();
    const created = await u.cas('k', 0, 'one');
    expect(created.applied).toBe(true);
    expect(await u.getVersioned('k')).toMatchObject({ version: created.version, expiresAt: 0 });
    expect(await redis.call('GETVER', 'k')).toEqual(['one', created.version]);
    expect(await u.cas('k', 0, 'again')).toEqual({ applied: false, version: created.version });
    const next = await u.cas('k', created.version, 'two', { ttlMs: 60_000 });
    expect(next.applied).toBe(true);
    expect(next.version).toBeGreaterThan(created.version);
    expect((await u.getVersioned('k'))?.expiresAt).toBeGreaterThan(Date.now() + 58_000);
    expect(await u.cad('k', created.version)).toEqual({ applied: false, version: next.version });
    expect((await u.cad('k', next.version)).applied).toBe(true);
    expect(await redis.exists('k')).toBe(0);
  });

  it('HTTP: PUT, GET, HEAD and DELETE with ETags, If-Match and If-None-Match', async () => {
    const { redis, http } = await b.serve();
    const url = `${http}/v1/kv/greeting`;
    const put1 = await fetch(`${url}?ttl=3600`, { method: 'PUT', body: 'hello world' });
    expect(put1.status).toBe(201);
    const { version: v1 } = (await put1.json()) as { version: string };
    expect(put1.headers.get('etag')).toBe(`"${v1}"`);
    const got = await fetch(url);
    expect(got.status).toBe(200);
    expect(await got.text()).toBe('hello world');
    expect(got.headers.get('etag')).toBe(`"${v1}"`);
    expect(Number(got.headers.get('x-dualkv-expires-at'))).toBeGreaterThan(Date.now() + 3500_000);
    expect((await redis.call('GETVER', 'greeting')) as [string, number]).toEqual(['hello world', Number(v1)]);
    const head = await fetch(url, { method: 'HEAD' });
    expect([head.status, head.headers.get('etag')]).toEqual([200, `"${v1}"`]);
    const put2 = await fetch(url, { method: 'PUT', headers: { 'If-Match': `"${v1}"` }, body: 'hi' });
    expect(put2.status).toBe(200);
    const { version: v2, created } = (await put2.json()) as { version: string; created: boolean };
    expect(created).toBe(false);
    expect(BigInt(v2)).toBeGreaterThan(BigInt(v1));
    // A PUT clears the expiry, as SET does.
    expect(await redis.ttl('greeting')).toBe(-1);
    const late = await fetch(url, { method: 'PUT', headers: { 'If-Match': `"${v1}"` }, body: 'late' });
    expect(late.status).toBe(412);
    expect(await late.json()).toMatchObject({ error: { code: 'PRECONDITION_FAILED', version: v2 } });
    expect((await fetch(url, { method: 'PUT', headers: { 'If-None-Match': '*' }, body: 'x' })).status).toBe(412);
    expect((await fetch(`${http}/v1/kv/fresh`, { method: 'PUT', headers: { 'If-None-Match': '*' }, body: 'x' })).status).toBe(201);
    expect((await fetch(`${http}/v1/kv/none`, { method: 'PUT', headers: { 'If-Match': '*' }, body: 'x' })).status).toBe(412);
    expect(await redis.get('greeting')).toBe('hi');
    expect((await fetch(url, { method: 'DELETE', headers: { 'If-Match': `"${v1}"` } })).status).toBe(412);
    expect((await fetch(url, { method: 'DELETE', headers: { 'If-Match': `"${v2}"` } })).status).toBe(204);
    expect((await fetch(url, { method: 'DELETE' })).status).toBe(404);
    const missing = await fetch(url);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: 'NOT_FOUND' } });
  });

  it("HTTP: the seed's /{key} API stores, reads and deletes text, and clears an expiry as SET does", async () => {
    const { redis, http } = await b.serve();
    const headers = { 'Content-Type': 'application/json' };
    await redis.set('note', 'old', 'EX', 3600);
    const replaced = await fetch(`${http}/note`, { method: 'POST', headers, body: JSON.stringify({ value: 'grüß' }) });
    expect(replaced.status).toBe(200);
    const { version } = (await replaced.json()) as { version: string };
    expect(await redis.ttl('note')).toBe(-1);
    expect((await redis.call('GETVER', 'note')) as [string, number]).toEqual(['grüß', Number(version)]);
    expect((await fetch(`${http}/fresh`, { method: 'POST', headers, body: '{"value": "x"}' })).status).toBe(201);
    expect(await (await fetch(`${http}/note`)).json()).toEqual({ value: 'grüß' });
    expect(await (await fetch(`${http}/note`, { method: 'DELETE' })).json()).toEqual({ deleted: true });
    expect(await redis.exists('note')).toBe(0);
    const missing = await fetch(`${http}/note`);
    expect([missing.status, await missing.json()]).toEqual([404, { error: 'key not found', code: 'NOT_FOUND' }]);
  });

  it('HTTP: the listing pages through the keys of a prefix, and only those', async () => {
    const { redis, http } = await b.serve();
    const users = Array.from({ length: 25 }, (_, i) => `user:${i}`);
    for (const k of users) await redis.set(k, 'v');
    await redis.set('users', 'not in the prefix user:');
    await redis.set('other', 'v');
    await redis.set('user:*', 'a glob character matches only itself');
    expect(await listAll(http, 'user:', 4)).toEqual([...users, 'user:*'].sort());
    expect(await listAll(http, 'user:*', 4)).toEqual(['user:*']);
    expect(await listAll(http, 'nothing', 4)).toEqual([]);
    expect((await fetch(`${http}/v1/kv?prefix=user%3A&cursor=12345`)).status).toBe(400);
  });
});
