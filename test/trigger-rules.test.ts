import { describe, expect, it } from 'vitest';
import type { WebEvent } from '../src/events/schema';
import { openSession } from '../src/sessions/record';
import { EventRule, eventRuleMatches, fieldMatches } from '../src/triggers/rules';
import { fireDue, newTriggerState, nextWatch, onClose, onEvent, type TriggerMessage } from '../src/triggers/session-triggers';

const at = Date.parse('2026-11-28T10:00:00Z');
const ev = (name: string, minutes: number, context: Record<string, unknown> | null = null): WebEvent => ({
  event_id: `${name}-${minutes}`,
  source_id: 'shop',
  channel: 'api',
  session_id: 's',
  customer_id: null,
  claimed_customer_id: null,
  name,
  occurred_at: new Date(at + minutes * 60_000).toISOString(),
  received_at: new Date(at).toISOString(),
  seq: null,
  context: context ? { type: 'product', ...context } : null,
  params: { section: 'sale' },
  page: { url: 'https://shop.example/a' },
  device: null,
  geo: null,
  flags: [],
});

describe('trigger rules, pure', () => {
  it('matches fields with the segment operators', () => {
    const e = ev('product_view', 0, { price: 120, brand: 'Acme', tags: 'blue mug' });
    expect(fieldMatches(e, { field: 'price', op: 'gt', value: 100 })).toBe(true);
    expect(fieldMatches(e, { field: 'price', op: 'lte', value: 100 })).toBe(false);
    expect(fieldMatches(e, { field: 'brand', op: 'in', value: ['Zeta', 'Acme'] })).toBe(true);
    expect(fieldMatches(e, { field: 'params.section', op: 'eq', value: 'sale' })).toBe(true);
    expect(fieldMatches(e, { field: 'tags', op: 'contains', value: 'mug' })).toBe(true);
    expect(fieldMatches(e, { field: 'color', op: 'exists' })).toBe(false);
    expect(fieldMatches(e, { field: 'page.url', op: 'contains', value: 'shop.example' })).toBe(true);
  });

  it('an event rule asks for a session state', () => {
    const session = openSession(ev('x', 0));
    const rule = EventRule.parse({ kind: 'event', event: 'product_view', session: 'identified' });
    expect(eventRuleMatches(rule, ev('product_view', 0, { price: 1 }), session)).toBe(false);
    expect(eventRuleMatches(rule, ev('product_view', 0, { price: 1 }), { ...session, customer_id: 'c' })).toBe(true);
  });

  it('lost view: waits from the last product_view, is cancelled by container_add, fires once', () => {
    const t = newTriggerState();
    const out: TriggerMessage[] = [];
    t.rules = [{ id: 'r', definition: { kind: 'absence', after: 'product_view', missing: 'container_add', within_minutes: 30, session: 'any' } }];
    const session = openSession(ev('x', 0));
    onEvent(t, ev('product_view', 0, { id: 'a' }), session, at, out);
    onEvent(t, ev('product_view', 10, { id: 'b' }), session, at, out);
    expect(nextWatch(t)).toBe(at + 40 * 60_000);
    fireDue(t, session, at + 39 * 60_000, out);
    expect(out).toEqual([]);
    fireDue(t, session, at + 40 * 60_000, out);
    expect(out.map((m) => [m.idempotency_key, m.event_ids])).toEqual([['r:shop:s', ['product_view-10']]]);
    onEvent(t, ev('product_view', 50, { id: 'c' }), session, at, out);
    expect(nextWatch(t)).toBe(Infinity); // once per session

    const cancelled = newTriggerState();
    cancelled.rules = t.rules;
    onEvent(cancelled, ev('product_view', 0, { id: 'a' }), session, at, out);
    onEvent(cancelled, ev('container_add', 5, { id: 'a' }), session, at, out);
    expect(nextWatch(cancelled)).toBe(Infinity);
  });

  it('a wait whose rule was removed ends without firing', () => {
    const t = newTriggerState();
    t.rules = [{ id: 'r', definition: { kind: 'absence', after: 'product_view', missing: 'container_add', within_minutes: 30, session: 'any' } }];
    const session = openSession(ev('x', 0));
    const out: TriggerMessage[] = [];
    onEvent(t, ev('product_view', 0, { id: 'a' }), session, at, out);
    t.rules = [];
    fireDue(t, session, at + 31 * 60_000, out);
    expect([out, nextWatch(t)]).toEqual([[], Infinity]);
  });

  it('session closed without order_complete', () => {
    const t = newTriggerState();
    t.rules = [{ id: 'c', definition: { kind: 'absence', after: 'session_close', missing: 'order_complete', session: 'any' } }];
    const session = openSession(ev('x', 0));
    const out: TriggerMessage[] = [];
    onClose(t, session, at, (name) => name === 'order_complete', out);
    expect(out).toEqual([]);
    onClose(t, session, at, () => false, out);
    expect(out.map((m) => m.rule_id)).toEqual(['c']);
  });

  it('an event whose customer is an unproven claim fires no rule', () => {
    const t = newTriggerState();
    t.rules = [{ id: 'login', definition: { kind: 'event', event: 'user_login', session: 'any' } }];
    const session = openSession(ev('x', 0));
    const out: TriggerMessage[] = [];
    onEvent(t, { ...ev('user_login', 0), claimed_customer_id: 'customer-42', flags: ['unverified_identity'] }, session, at, out);
    expect(out).toEqual([]);
    onEvent(t, { ...ev('user_login', 1), customer_id: 'customer-42' }, session, at, out);
    expect(out.map((m) => m.event_ids)).toEqual([['user_login-1']]);
  });
});
