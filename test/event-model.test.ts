import { describe, expect, it } from 'vitest';
import { type Arrival, normalizeEvent } from '../src/events/normalize';

const NOW = Date.parse('2026-11-28T12:00:00.000Z');
const arrival: Arrival = { sourceId: 'shop', channel: 'sdk', receivedAt: NOW, device: { user_agent: 'UA', platform: 'ios' }, geo: { country: 'DE' } };
const base = { session_id: 's-1', occurred_at: '2026-11-28T13:59:00+02:00' };

describe('normalizeEvent, the one path of every channel', () => {
  it('makes the canonical web event: UTC times, server fields, an event_id when absent', () => {
    const n = normalizeEvent({ ...base, name: 'page_view', page: { url: 'https://shop.example/' }, device: { platform: 'android' } }, arrival);
    expect(n.ok && n.event).toMatchObject({
      source_id: 'shop',
      channel: 'sdk',
      session_id: 's-1',
      customer_id: null,
      occurred_at: '2026-11-28T11:59:00.000Z',
      received_at: '2026-11-28T12:00:00.000Z',
      seq: null,
      context: null,
      device: { user_agent: 'UA', platform: 'android' },
      geo: { country: 'DE' },
      flags: [],
    });
    expect(n.ok && n.event.event_id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('clamps a time more than 5 minutes ahead to received_at and flags it; 5 minutes is tolerated', () => {
    const ahead = normalizeEvent({ ...base, name: 'x', occurred_at: '2026-11-28T12:05:00.001Z' }, arrival);
    expect(ahead.ok && [ahead.event.occurred_at, ahead.event.flags]).toEqual(['2026-11-28T12:00:00.000Z', ['clock_skew']]);
    const edge = normalizeEvent({ ...base, name: 'x', occurred_at: '2026-11-28T12:05:00.000Z' }, arrival);
    expect(edge.ok && [edge.event.occurred_at, edge.event.flags]).toEqual(['2026-11-28T12:05:00.000Z', []]);
  });

  it.each([
    ['product_view', { product: { id: 'sku-1', price: 9.5, color: 'red' } }, { type: 'product', id: 'sku-1', price: 9.5, color: 'red' }],
    ['product_view', { type: 'product', id: 'sku-1' }, { type: 'product', id: 'sku-1' }],
    ['category_view', { category: { id: 12, name: 'Mugs' } }, { type: 'category', id: '12', name: 'Mugs' }],
    ['container_add', { product: { id: 'sku-1' }, container: 'favorites' }, { type: 'product', id: 'sku-1', container: 'favorites', quantity: 1 }],
    ['search', { search: { query: 'mug', results_count: 4 } }, { type: 'search', query: 'mug', results_count: 4 }],
    [
      'order_complete',
      { order: { id: 'o-1', total: 19, currency: 'EUR', items: [{ product_id: 'sku-1', quantity: 2, price: 9.5 }] } },
      { type: 'order', id: 'o-1', total: 19, currency: 'EUR', items: [{ product_id: 'sku-1', quantity: 2, price: 9.5 }] },
    ],
    ['product_rated', { type: 'product', id: 'sku-1' }, { type: 'product', id: 'sku-1' }],
  ])('%s keeps its context as a {type, ...fields} snapshot', (name, context, expected) => {
    const n = normalizeEvent({ ...base, name, context }, arrival);
    expect(n.ok && n.event.context).toEqual(expected);
  });

  it.each([
    ['product_view', undefined, 'context'],
    ['product_view', { type: 'category', id: '1' }, 'context.type'],
    ['container_add', { product: { id: 'sku-1' } }, 'context.container'],
    ['container_add', { product: { name: 'no id' }, container: 'cart' }, 'context.product.id'],
    ['order_complete', { order: { id: 'o', items: [{ quantity: 1 }] } }, 'context.order.items.0.product_id'],
    ['search', { search: {} }, 'context.search.query'],
  ])('%s with a wrong context is refused at %s', (name, context, path) => {
    const n = normalizeEvent({ ...base, name, context }, arrival);
    expect(!n.ok && n.error.details[0]!.path).toBe(path);
  });

  it('refuses more than 50 params and keeps the event_id of a refused event in its result', () => {
    const params = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, i]));
    const n = normalizeEvent({ ...base, event_id: 'e-1', name: 'x', params }, arrival);
    expect(n).toMatchObject({ ok: false, eventId: 'e-1', error: { details: [{ path: 'params' }] } });
  });
});
