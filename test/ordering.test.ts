import { describe, expect, it } from 'vitest';
import { createSource, event, postEvents, unique } from './fixtures/api';
import { d1Events, readSession, runAlarm } from './fixtures/sessions';

describe('session order', () => {
  it('places out-of-order events by (occurred_at, seq, arrival), live and in D1', async () => {
    const source = await createSource();
    const sessionId = unique('s');
    const same = new Date(Date.now() - 10 * 60_000).toISOString();
    const a = event(sessionId, 'page_view', -30, { seq: 1, customer_id: 'cust-order' }); // identified: D1 holds its events
    const b = { ...event(sessionId, 'product_view', 0, { seq: 3, context: { type: 'product', id: 'p1' } }), occurred_at: same };
    const c = { ...event(sessionId, 'product_view', 0, { seq: 2, context: { type: 'product', id: 'p2' } }), occurred_at: same };
    const d = event(sessionId, 'search', -5, { seq: 4, context: { type: 'search', query: 'mug' } });
    // Sent shuffled and across two requests.
    await postEvents(source.secret_key, [d, b]);
    await postEvents(source.secret_key, [c, a]);
    const expected = [a, c, b, d].map((e) => e.event_id);

    const live = await readSession(source.id, sessionId, source.secret_key);
    expect(live.body.events.map((e) => e.event_id)).toEqual(expected);
    expect(live.body.session.started_at).toBe(a.occurred_at);
    expect(live.body.session.last_event_at).toBe(d.occurred_at);

    await runAlarm(source.id, sessionId);
    expect((await d1Events(source.id, sessionId)).map((e) => e.event_id)).toEqual(expected);
  });

  it('takes the landing page from the earliest event even when it arrives last', async () => {
    const source = await createSource();
    const sessionId = unique('s');
    const later = event(sessionId, 'page_view', -1, { page: { url: 'https://shop.example/second' } });
    const first = event(sessionId, 'user_visit', -3, {
      page: { url: 'https://shop.example/landing?utm_source=mail', referrer: 'https://mail.example/' },
      params: { utm_source: 'mail' },
    });
    await postEvents(source.secret_key, [later]);
    await postEvents(source.secret_key, [first]);
    const { session } = (await readSession(source.id, sessionId, source.secret_key)).body;
    expect(session).toMatchObject({
      landing_url: 'https://shop.example/landing?utm_source=mail',
      referrer: 'https://mail.example/',
      utm: { utm_source: 'mail' },
      event_count: 2,
    });
  });
});
