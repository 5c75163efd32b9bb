import { describe, expect, it } from 'vitest';
import { createSource, event, postEvents, unique } from './fixtures/api';
import { d1Events, d1Session, readSession, runAlarm } from './fixtures/sessions';

describe('de-anonymization', () => {
  it('links a session on user_login: every event before and after carries the customer in D1', async () => {
    const source = await createSource();
    const sessionId = unique('s');
    const anonymous = [
      event(sessionId, 'page_view', -4),
      event(sessionId, 'product_view', -3, { context: { type: 'product', id: 'p1' } }),
      event(sessionId, 'container_add', -2, { context: { type: 'product', id: 'p1', container: 'cart' } }),
    ];
    await postEvents(source.secret_key, anonymous);
    await runAlarm(source.id, sessionId);
    // Anonymous: D1 has the session, its events stay in the object and the lake (docs/design.md §4).
    expect(await d1Session(source.id, sessionId)).toMatchObject({ customer_id: null, event_count: 3 });
    expect(await d1Events(source.id, sessionId)).toEqual([]);

    await postEvents(source.secret_key, [event(sessionId, 'user_login', -1, { customer_id: 'cust-42' })]);
    await runAlarm(source.id, sessionId);

    const rows = await d1Events(source.id, sessionId);
    expect(rows.map((e) => e.customer_id)).toEqual(['cust-42', 'cust-42', 'cust-42', 'cust-42']);
    expect(await d1Session(source.id, sessionId)).toMatchObject({ customer_id: 'cust-42', deanonymized_by: 'login', identity_conflicts: 0 });
    const live = await readSession(source.id, sessionId, source.secret_key);
    expect(live.body.events.every((e) => e.customer_id === 'cust-42')).toBe(true);
  });

  it('counts a different customer as an identity conflict and keeps the first', async () => {
    const source = await createSource();
    const sessionId = unique('s');
    const other = event(sessionId, 'user_login', -1, { customer_id: 'cust-other' });
    await postEvents(source.secret_key, [event(sessionId, 'user_registration', -3, { customer_id: 'cust-1' }), event(sessionId, 'page_view', -2), other]);
    await runAlarm(source.id, sessionId);
    expect(await d1Session(source.id, sessionId)).toMatchObject({ customer_id: 'cust-1', deanonymized_by: 'registration', identity_conflicts: 1 });
    const rows = await d1Events(source.id, sessionId);
    expect(rows.map((e) => e.customer_id)).toEqual(['cust-1', 'cust-1', 'cust-other']);
    expect(JSON.parse(rows[2]!.flags)).toEqual(['identity_conflict']);
  });

  it('links by any event that carries a customer_id (deanonymized_by = event)', async () => {
    const source = await createSource();
    const sessionId = unique('s');
    await postEvents(source.secret_key, [
      event(sessionId, 'page_view', -2),
      event(sessionId, 'product_rated', -1, { customer_id: 'c9', context: { type: 'product', id: 'p' } }),
    ]);
    const { session } = (await readSession(source.id, sessionId, source.secret_key)).body;
    expect(session).toMatchObject({ customer_id: 'c9', deanonymized_by: 'event' });
  });
});
