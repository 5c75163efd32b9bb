import { env } from 'cloudflare:workers';
import { describe, expect, it, vi } from 'vitest';
import { TRACKER_HASH } from '../src/tracker/built';
import { CHROME, call, createSource, SHOP, unique } from './fixtures/api';
import { d1Session, eventually, readSession } from './fixtures/sessions';

const ORIGIN = SHOP;

const website = (extra: Record<string, unknown> = {}) => createSource({ kind: 'website', allowed_origins: [ORIGIN], ...extra });
const wire = (sessionId: string, n: string, extra: Record<string, unknown> = {}) => ({
  i: crypto.randomUUID(),
  s: sessionId,
  n,
  t: Date.now() - 1000,
  q: 1,
  u: `${ORIGIN}/p/1`,
  ...extra,
});

function beacon(body: unknown, headers: Record<string, string> = {}, init: RequestInit = {}) {
  return call('/t', {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'content-type': 'text/plain;charset=UTF-8', origin: ORIGIN, 'user-agent': CHROME, ...headers },
    ...init,
  });
}

describe('POST /t, the tracker beacon', () => {
  it('stores the compact events as web events of channel tracker, enriched from the request, and answers 204 with CORS', async () => {
    const source = await website();
    const sessionId = unique('s');
    const res = await beacon({ k: source.public_key, e: [wire(sessionId, 'product_view', { c: { product: { id: 'sku-1', price: 9.5 } } })] });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    const { body } = await readSession(source.id, sessionId, source.secret_key);
    expect(body.events[0]).toMatchObject({
      channel: 'tracker',
      name: 'product_view',
      seq: 1,
      context: { type: 'product', id: 'sku-1', price: 9.5 },
      page: { url: `${ORIGIN}/p/1` },
      device: { user_agent: CHROME },
    });
    expect(body.session.user_agent).toBe(CHROME);
  });

  it('takes application/json too, cuts page URLs longer than the model keeps, and adds geo from request.cf', async () => {
    const source = await website({ allowed_query_params: ['q'] });
    const sessionId = unique('s');
    const long = `${ORIGIN}/search?q=${'a'.repeat(3000)}`;
    const cf = { country: 'DE', region: 'Berlin', city: 'Berlin', timezone: 'Europe/Berlin', colo: 'TXL' };
    const res = await beacon({ k: source.public_key, e: [wire(sessionId, 'page_view', { u: long })] }, { 'content-type': 'application/json' }, { cf });
    expect(res.status).toBe(204);
    const [event] = (await readSession(source.id, sessionId, source.secret_key)).body.events;
    expect(event).toMatchObject({ page: { url: long.slice(0, 2048) }, geo: { country: 'DE', region: 'Berlin', city: 'Berlin', timezone: 'Europe/Berlin' } });
    expect(event).not.toHaveProperty('geo.colo');
  });

  it('answers a preflight with CORS only for an allowed origin of the source named by ?k=', async () => {
    const source = await website();
    const preflight = (origin: string, query: string) =>
      call(`/t${query}`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } });
    const allowed = await preflight(ORIGIN, `?k=${source.public_key}`);
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(allowed.headers.get('access-control-allow-headers')).toBe('content-type');
    for (const res of [
      await preflight('https://evil.example', `?k=${source.public_key}`),
      await preflight(ORIGIN, ''),
      await preflight(ORIGIN, '?k=pk_unknown'),
    ]) {
      expect(res.status).toBe(403);
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('origin_not_allowed');
    }
  });

  it('refuses a wrong origin, an unknown key, a server source, a malformed or oversized body, storing nothing', async () => {
    const source = await website();
    const server = await createSource({ kind: 'server' });
    const sessionId = unique('s');
    const good = { k: source.public_key, e: [wire(sessionId, 'page_view')] };
    const cases: [Response, number, string][] = [
      [await beacon(good, { origin: 'https://evil.example' }), 403, 'origin_not_allowed'],
      [await beacon({ ...good, k: 'pk_unknown' }), 401, 'invalid_key'],
      [await beacon({ ...good, k: server.public_key }), 403, 'wrong_source_kind'],
      [await beacon('{"k": "x", "e": [}'), 400, 'invalid_json'],
      [await beacon({ k: source.public_key, e: Array.from({ length: 501 }, () => wire(sessionId, 'page_view')) }), 400, 'invalid_request'],
      [await beacon(JSON.stringify(good) + ' '.repeat(1024 * 1024)), 413, 'payload_too_large'],
    ];
    for (const [res, status, code] of cases) {
      expect(res.status).toBe(status);
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe(code);
    }
    expect((await readSession(source.id, sessionId, source.secret_key)).status).toBe(404);
  });

  it('keeps the good events of a batch beside a bad one, and says which field of which event', async () => {
    const source = await website();
    const sessionId = unique('s');
    const res = await beacon({
      k: source.public_key,
      e: [wire(sessionId, 'page_view'), wire(sessionId, 'product_view', { c: { product: {} } }), 'not an event'],
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { details: { path: string }[] } };
    expect(body.error.details.map((d) => d.path)).toEqual(['e.1.context.product.id', 'e.2.(event)']);
    expect((await readSession(source.id, sessionId, source.secret_key)).body.session.event_count).toBe(1);
  });

  it('stores a retry that reaches a closed session flagged late, and leaves the session closed (rule 4)', async () => {
    const source = await website();
    const sessionId = unique('s');
    await beacon({ k: source.public_key, e: [wire(sessionId, 'page_view', { t: Date.now() - 7200_000 })] });
    // Its close is overdue: the object's alarm closes it (an hour after that page view) and writes it out.
    await eventually(async () => (await d1Session(source.id, sessionId))?.status === 'closed');
    const retried = wire(sessionId, 'product_view', { t: Date.now() - 7100_000, q: 2, c: { product: { id: 'sku-1' } } });
    expect((await beacon({ k: source.public_key, e: [retried] })).status).toBe(204);

    const live = (await readSession(source.id, sessionId, source.secret_key)).body;
    expect(live.session).toMatchObject({ status: 'closed', event_count: 2 });
    expect(live.events.map((e) => [e.name, e.flags])).toEqual([
      ['page_view', []],
      ['product_view', ['late']],
    ]);
    // Anonymous: its events leave for the lake (D1 holds the session only), the late one due at once.
    await eventually(async () => (await env.LAKE.records(source.id)).length === 2);
    expect((await env.LAKE.records(source.id)).map((r) => JSON.parse(r.flags) as string[])).toEqual([[], ['late']]);
    expect(await d1Session(source.id, sessionId)).toMatchObject({ status: 'closed', event_count: 2 });
  });

  it('drops known bots without storing them, and counts each drop as one "bot dropped" log line', async () => {
    const source = await website();
    const sessionId = unique('s');
    const log = vi.spyOn(console, 'log');
    try {
      const googlebot = 'Googlebot/2.1 (+http://www.google.com/bot.html)';
      const res = await beacon({ k: source.public_key, e: [wire(sessionId, 'page_view')] }, { 'user-agent': googlebot });
      expect(res.status).toBe(204);
      const drops = log.mock.calls.map(([line]) => String(line)).filter((line) => line.includes('"bot dropped"'));
      expect(drops.map((line) => JSON.parse(line) as unknown)).toEqual([{ message: 'bot dropped', source: source.id, user_agent: googlebot }]);
    } finally {
      log.mockRestore();
    }
    expect((await readSession(source.id, sessionId, source.secret_key)).status).toBe(404);
  });

  it('serves the script, a versioned URL cached for a year, and 304 to a browser that has it', async () => {
    const plain = await call('/t.js');
    expect(plain.status).toBe(200);
    expect(plain.headers.get('content-type')).toMatch(/javascript/);
    expect(plain.headers.get('cache-control')).toBe('public, max-age=3600');
    const versioned = await call(`/t.${TRACKER_HASH}.js`);
    expect(versioned.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(await versioned.text()).toBe(await plain.text());
    const again = await call('/t.js', { headers: { 'if-none-match': plain.headers.get('etag')! } });
    expect(again.status).toBe(304);
  });
});
