import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { STALE_WHILE_D1_DOWN_MS } from '../src/storage/outage';
import { beacon, call, createSource, event, postEvents, SHOP, unique } from './fixtures/api';
import { readSession } from './fixtures/sessions';

/**
 * D1 down (its tables unreadable: every query of them is a D1_ERROR, as in an outage): ingest goes
 * on with the sources and rules this isolate last read, for a bounded time; what nothing stands in
 * for is a 503 with Retry-After, never a 500.
 */
const TABLES = ['event_sources', 'trigger_rules'];
const d1Down = () => Promise.all(TABLES.map((t) => env.DB.exec(`ALTER TABLE ${t} RENAME TO ${t}_down`)));
const d1Up = () => Promise.all(TABLES.map((t) => env.DB.exec(`ALTER TABLE ${t}_down RENAME TO ${t}`)));

const view = (sessionId: string) => ({ i: crypto.randomUUID(), s: sessionId, n: 'page_view', t: Date.now(), u: `${SHOP}/` });

describe('a D1 outage', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('ingest goes on with the sources last read, past their cache time; an unknown key is a 503 with Retry-After; past the bound, 503', async () => {
    const shop = await createSource({ kind: 'website', allowed_origins: [SHOP] });
    const server = await createSource();
    const [s1, s2] = [unique('s'), unique('s')];
    // Read once: now this isolate knows both sources' keys.
    expect((await beacon(shop.public_key, [view(s1)])).status).toBe(204);
    expect((await postEvents(server.secret_key, [event(s2, 'page_view', -1)])).status).toBe(200);
    const stranger = await createSource();

    await d1Down();
    try {
      // Two minutes on: the cached answers are past their 60 s, and D1 cannot give new ones.
      vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 120_000 });
      expect((await beacon(shop.public_key, [view(s1)])).status).toBe(204);
      const rest = await postEvents(server.secret_key, [event(s2, 'search', 1, { context: { type: 'search', query: 'mug' } })]);
      expect(rest.body.results.map((r) => r.status)).toEqual(['accepted']);
      expect((await readSession(server.id, s2, server.secret_key)).body.events.map((e) => e.name)).toEqual(['page_view', 'search']);

      const unknown = await call('/api/v1/web-events', { method: 'POST', token: stranger.secret_key, json: { events: [event(s2, 'page_view', 0)] } });
      expect([unknown.status, unknown.headers.get('retry-after'), ((await unknown.json()) as { error: { code: string } }).error.code]).toEqual([
        503,
        '1',
        'unavailable',
      ]);

      // Past the bound, even a known key waits for D1.
      vi.setSystemTime(Date.now() + STALE_WHILE_D1_DOWN_MS + 120_000);
      const late = await postEvents(server.secret_key, [event(s2, 'page_view', 0)]);
      expect(late.status).toBe(503);
    } finally {
      vi.useRealTimers();
      await d1Up();
    }
    expect((await postEvents(stranger.secret_key, [event(unique('s'), 'page_view', 0)])).status).toBe(200);
  });

  it('a read that needs D1 answers 503 with Retry-After, not 500', async () => {
    const server = await createSource();
    await postEvents(server.secret_key, [event(unique('s'), 'page_view', 0)]);
    await env.DB.exec('ALTER TABLE sessions RENAME TO sessions_down');
    try {
      const res = await call('/api/v1/customers/cust-outage/sessions', { token: server.secret_key });
      expect([res.status, res.headers.get('retry-after')]).toEqual([503, '5']);
    } finally {
      await env.DB.exec('ALTER TABLE sessions_down RENAME TO sessions');
    }
  });
});
