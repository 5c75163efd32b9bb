import { describe, expect, it } from 'vitest';
import { createSource, event, postEvents, unique } from './fixtures/api';
import { d1Events, readSession, runAlarm } from './fixtures/sessions';

describe('POST /api/v1/web-events', () => {
  it('answers per event: the good one stored, the duplicate accepted once, the invalid one naming its field', async () => {
    const source = await createSource();
    const sessionId = unique('s');
    const good = event(sessionId, 'product_view', -2, { context: { type: 'product', id: 'sku-1', price: 9.5, currency: 'EUR' } });
    await postEvents(source.secret_key, [good]);

    const invalid = event(sessionId, 'product_view', -1, { context: { type: 'product', price: 3 } });
    const other = event(sessionId, 'page_view', -1, { page: { url: 'https://shop.example/a' } });
    const { status, body } = await postEvents(source.secret_key, [good, invalid, other]);

    expect(status).toBe(200);
    expect(body.results.map((r) => r.status)).toEqual(['duplicate', 'rejected', 'accepted']);
    expect(body.results[1]!.error!.details[0]!.path).toBe('context.id');
    expect(body.results[1]!.error!.message).toMatch(/^context\.id: /);

    const { body: view } = await readSession(source.id, sessionId, source.secret_key);
    expect(view.events.map((e) => e.event_id)).toEqual([good.event_id, other.event_id]);
    expect(view.events[0]!.context).toEqual({ type: 'product', id: 'sku-1', price: 9.5, currency: 'EUR' });
  });

  it('normalizes the nested context form and clamps a clock far in the future', async () => {
    const source = await createSource();
    const sessionId = unique('s');
    const add = event(sessionId, 'container_add', 60, { context: { product: { id: 7, name: 'Mug' }, container: 'cart', quantity: 2 } });
    const { body } = await postEvents(source.secret_key, [add]);
    expect(body.results[0]!.status).toBe('accepted');

    const stored = (await readSession(source.id, sessionId, source.secret_key)).body.events[0]!;
    expect(stored.context).toEqual({ type: 'product', id: '7', name: 'Mug', container: 'cart', quantity: 2 });
    expect(stored.flags).toEqual(['clock_skew']);
    expect(stored.occurred_at).toBe(stored.received_at);
  });

  it('refuses a user_login without customer_id and a custom event without a context type', async () => {
    const source = await createSource();
    const sessionId = unique('s');
    const { body } = await postEvents(source.secret_key, [
      event(sessionId, 'user_login', 0),
      event(sessionId, 'product_rated', 0, { context: { id: 'sku-1' }, params: { rating: 2 } }),
      event(sessionId, 'product_rated', 0, { context: { type: 'product', id: 'sku-1' }, params: { rating: 2 } }),
    ]);
    expect(body.results.map((r) => [r.status, r.error?.details[0]?.path])).toEqual([
      ['rejected', 'customer_id'],
      ['rejected', 'context.type'],
      ['accepted', undefined],
    ]);
  });

  it('keeps its data in D1 after the flush, with the channel set by the server', async () => {
    const source = await createSource();
    const sessionId = unique('s');
    const e = event(sessionId, 'search', -1, { context: { type: 'search', query: 'mug', results_count: 3 }, channel: 'sdk', customer_id: 'cust-1' });
    const { body } = await postEvents(source.secret_key, [e]);
    expect(body.results[0]!.status).toBe('accepted');
    expect(await runAlarm(source.id, sessionId)).toBe(true);
    const [row] = await d1Events(source.id, sessionId);
    expect(row).toMatchObject({ channel: 'api', name: 'search', context: JSON.stringify({ type: 'search', query: 'mug', results_count: 3 }) });
  });
});
