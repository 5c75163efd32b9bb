import { describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, call } from './fixtures/api';
import { daysAgo } from './fixtures/segment-data';
import { adminMembers, members, seededSources } from './fixtures/segments';

describe('segment conditions, each against the known histories', () => {
  it('count thresholds in a window: viewed products at least 3 times in the last 7 days', async () => {
    const { a } = await seededSources();
    expect(await members(a.secret_key, { event: 'product_view', within_days: 7, count: { gte: 3 } })).toEqual(['alice']);
    expect(await members(a.secret_key, { event: 'product_view', within_days: 7, count: { eq: 2 } })).toEqual(['bob']);
    expect(await members(a.secret_key, { event: 'product_view', count: { gte: 3 } })).toEqual(['alice', 'bob', 'carol']);
    // At most 2 views in 7 days includes those with none.
    expect(await members(a.secret_key, { event: 'product_view', within_days: 7, count: { lte: 2 } })).toEqual(['bob', 'carol', 'dave']);
  });

  it('time windows at their edges: within_days counts back from now; from is inclusive, to exclusive', async () => {
    const { a } = await seededSources();
    // bob's second view is 6.99 days old: inside 7 days, outside 6.
    expect(await members(a.secret_key, { event: 'product_view', within_days: 7, count: { gte: 2 } })).toEqual(['alice', 'bob']);
    expect(await members(a.secret_key, { event: 'product_view', within_days: 6, count: { gte: 2 } })).toEqual(['alice']);
    // carol's views are 10-14 days old, bob's third view 9: an exact window around them.
    const windowed = { event: 'product_view', from: daysAgo(14.5), to: daysAgo(9.5) };
    expect(await members(a.secret_key, windowed)).toEqual(['carol']);
    expect(await members(a.secret_key, { event: 'product_view', from: daysAgo(9.0001), to: daysAgo(8.9999) })).toEqual(['bob']);
  });

  it('context and params comparisons: gt, in, exists, contains, neq', async () => {
    const { a } = await seededSources();
    const pv = (where: unknown[]) => members(a.secret_key, { event: 'product_view', where });
    expect(await pv([{ field: 'price', op: 'gt', value: 100 }])).toEqual(['alice']);
    expect(await pv([{ field: 'context.price', op: 'lte', value: 60 }])).toEqual(['bob', 'carol']);
    expect(await pv([{ field: 'brand', op: 'in', value: ['Zeta', 'Nope'] }])).toEqual(['carol']);
    expect(await pv([{ field: 'params.section', op: 'exists' }])).toEqual(['alice']);
    expect(await pv([{ field: 'name', op: 'contains', value: 'z1' }])).toEqual(['carol']);
    expect(await pv([{ field: 'brand', op: 'neq', value: 'Acme' }])).toEqual(['carol']);
    expect(await members(a.secret_key, { event: 'order_complete', where: [{ field: 'total', op: 'gte', value: 200 }] })).toEqual(['alice']);
  });

  it('recency: has not visited for 30 days; visited in the last 7', async () => {
    const { a } = await seededSources();
    expect(await members(a.secret_key, { event: 'page_view', last_before_days: 30 })).toEqual(['bob', 'carol']);
    expect(await members(a.secret_key, { event: 'page_view', last_before_days: 35 })).toEqual(['bob']);
    expect(await members(a.secret_key, { event: 'page_view', last_within_days: 7 })).toEqual(['alice', 'dave']);
  });

  it('not: every identified customer of the source but those who ordered', async () => {
    const { a } = await seededSources();
    expect(await members(a.secret_key, { not: { event: 'order_complete' } })).toEqual(['bob', 'carol', 'dave']);
  });

  it('nested any inside all: viewed products, and either ordered or has not visited for 30 days', async () => {
    const { a } = await seededSources();
    const definition = {
      all: [{ event: 'product_view', within_days: 10 }, { any: [{ event: 'order_complete' }, { event: 'page_view', last_before_days: 30 }] }],
    };
    expect(await members(a.secret_key, definition)).toEqual(['alice', 'bob']);
  });

  it('source filters: a condition on one source, has a session from a source, and a key sees only its source', async () => {
    const { a, b } = await seededSources();
    expect(await adminMembers({ event: 'product_view', source_id: b, count: { gte: 4 } })).toEqual(['dave']);
    expect(await adminMembers({ has_session_from: b })).toEqual(['dave']);
    expect(await adminMembers({ all: [{ has_session_from: a.id }, { has_session_from: b }] })).toEqual(['dave']);
    // Source A's key never sees source B's events, even when it names B.
    expect(await members(a.secret_key, { event: 'product_view', source_id: b })).toEqual([]);
    expect(await members(a.secret_key, { identified: true })).toEqual(['alice', 'bob', 'carol', 'dave']);
  });

  it('any number of children up to the limit: a compound of more terms than D1 takes in one SELECT is nested', async () => {
    const { a } = await seededSources();
    const views = (days: number[]) => days.map((d) => ({ event: 'product_view', within_days: d }));
    expect(await members(a.secret_key, { any: [...views([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]), { event: 'order_complete' }] })).toEqual([
      'alice',
      'bob',
      'carol',
    ]);
    expect(await members(a.secret_key, { all: views([30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11]) })).toEqual([
      'alice',
      'bob',
      'carol',
    ]);
  });

  it("the admin's preview of a definition without values (every identified customer) answers", async () => {
    await seededSources();
    const res = await call('/api/v1/segments/preview', { method: 'POST', token: ADMIN_TOKEN, json: { definition: { identified: true } } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { count: number }).count).toBeGreaterThanOrEqual(4);
  });
});
