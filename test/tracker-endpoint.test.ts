import { describe, expect, it } from 'vitest';
import { TRACKER_HASH } from '../src/tracker/built';
import { call, createSource, unique } from './fixtures/api';
import { readSession } from './fixtures/sessions';

const ORIGIN = 'https://shop.example';
const CHROME = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36';

const website = () => createSource({ kind: 'website', allowed_origins: [ORIGIN] });
const wire = (sessionId: string, n: string, extra: Record<string, unknown> = {}) => ({
  i: crypto.randomUUID(), s: sessionId, n, t: Date.now() - 1000, q: 1, u: `${ORIGIN}/p/1`, ...extra,
});

function beacon(body: unknown, headers: Record<string, string> = {}) {
  return call('/t', {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'content-type': 'text/plain;charset=UTF-8', origin: ORIGIN, 'user-agent': CHROME, ...headers },
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
    expect(body.events[0]).toMatchObject({ channel: 'tracker', name: 'product_view', seq: 1, context: { type: 'product', id: 'sku-1', price: 9.5 }, page: { url: `${ORIGIN}/p/1` }, device: { user_agent: CHROME } });
    expect(body.session.user_agent).toBe(CHROME);
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
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe(code);
    }
    expect((await readSession(source.id, sessionId, source.secret_key)).status).toBe(404);
  });

  it('keeps the good events of a batch beside a bad one, and says which field of which event', async () => {
    const source = await website();
    const sessionId = unique('s');
    const res = await beacon({ k: source.public_key, e: [wire(sessionId, 'page_view'), wire(sessionId, 'product_view', { c: { product: {} } })] });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { details: { path: string }[] } };
    expect(body.error.details[0]!.path).toBe('e.1.context.product.id');
    expect((await readSession(source.id, sessionId, source.secret_key)).body.session.event_count).toBe(1);
  });

  it('drops known bots without storing them', async () => {
    const source = await website();
    const sessionId = unique('s');
    const res = await beacon({ k: source.public_key, e: [wire(sessionId, 'page_view')] }, { 'user-agent': 'Googlebot/2.1 (+http://www.google.com/bot.html)' });
    expect(res.status).toBe(204);
    expect((await readSession(source.id, sessionId, source.secret_key)).status).toBe(404);
  });

  it('serves the script, and a versioned URL cached for a year', async () => {
    const plain = await call('/t.js');
    expect(plain.status).toBe(200);
    expect(plain.headers.get('content-type')).toMatch(/javascript/);
    expect(plain.headers.get('cache-control')).toBe('public, max-age=3600');
    const versioned = await call(`/t.${TRACKER_HASH}.js`);
    expect(versioned.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(await versioned.text()).toBe(await plain.text());
  });
});
