import { createExecutionContext, createMessageBatch, getQueueResult, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import worker from '../src/index';
import { retryDelayS, signature } from '../src/triggers/deliver';
import type { TriggerMessage } from '../src/triggers/session-triggers';
import { ADMIN_TOKEN, call, createSource, event, postEvents, unique } from './fixtures/api';
import { runAlarm, sessionStub, stateRowOf, tableRows } from './fixtures/sessions';
import { createTrigger, received, waitForWebhooks } from './fixtures/webhooks';

describe('campaign triggers', () => {
  it('an event rule fires once per matching event: a signed webhook with its idempotency key', async () => {
    const source = await createSource();
    const hook = `/hook/ok/${unique('r')}`;
    const rule = await createTrigger(
      source.id,
      { kind: 'event', event: 'product_view', where: [{ field: 'price', op: 'gt', value: 100 }], session: 'anonymous' },
      hook,
    );
    const sessionId = unique('s');
    const pricey = [1, 2].map((i) => event(sessionId, 'product_view', -i, { context: { type: 'product', id: `p${i}`, price: 150 } }));
    const cheap = event(sessionId, 'product_view', 0, { context: { type: 'product', id: 'p3', price: 20 } });
    await postEvents(source.secret_key, [...pricey, cheap]);
    await postEvents(source.secret_key, [pricey[0]]); // a duplicate fires nothing

    const got = await waitForWebhooks(hook, 2);
    expect(got).toHaveLength(2);
    expect(got.map((r) => r.headers['idempotency-key']).sort()).toEqual(pricey.map((e) => `${rule.id}:${e.event_id}`).sort());
    for (const r of got) {
      const header = r.headers['x-webevents-signature']!;
      const t = Number(/^t=(\d+),v1=[0-9a-f]{64}$/.exec(header)?.[1]);
      expect(Math.abs(t * 1000 - Date.now())).toBeLessThan(60_000);
      expect(header).toBe(await signature(rule.secret, r.body, t * 1000));
    }
    const payload = JSON.parse(got[0]!.body) as {
      rule: { id: string };
      source_id: string;
      session: { id: string; anonymous: boolean };
      events: { context: { price: number } }[];
    };
    expect(payload).toMatchObject({ rule: { id: rule.id }, source_id: source.id, session: { id: sessionId, anonymous: true } });
    expect(payload.events[0]!.context.price).toBe(150);
  });

  it('the consumer retries a delivery the receiver refused, with the backoff; a removed rule or a refused target is let go', async () => {
    const source = await createSource();
    const e = event(unique('s'), 'search', 0, { context: { type: 'search', query: 'mug' } });
    await postEvents(source.secret_key, [e]);
    // The rule comes after the event, so only this test's own message reaches the receiver.
    const hook = `/hook/fail/${unique('r')}`;
    const rule = await createTrigger(source.id, { kind: 'event', event: 'search' }, hook);
    const message = (id: string, ruleId: string, attempts: number) => ({
      id,
      timestamp: Date.now(),
      attempts,
      body: {
        rule_id: ruleId,
        idempotency_key: `${ruleId}:${e.event_id}`,
        source_id: source.id,
        session: { id: e.session_id, customer_id: null, anonymous: true },
        event_ids: [e.event_id],
        fired_at: new Date().toISOString(),
      },
    });
    const batch = createMessageBatch<TriggerMessage>('web-events-triggers', [message('fail', rule.id, 3), message('gone', 'trg_removed', 1)]);
    await worker.queue(batch, env, createExecutionContext());
    const result = await getQueueResult(batch, createExecutionContext());
    expect(result.retryMessages.map((m) => m.msgId)).toEqual(['fail']);
    expect(result.explicitAcks).toEqual(['gone']);
    // The delay: the base (TRIGGER_RETRY_BASE_S, 10 s) doubling per attempt, at most 10 minutes.
    expect([1, 2, 3, 7, 8].map((attempts) => retryDelayS(attempts, 10))).toEqual([10, 20, 40, 600, 600]);
    expect((await received(hook)).map((r) => r.headers['idempotency-key'])).toEqual([`${rule.id}:${e.event_id}`]);
  });

  it('lost cart: fires N minutes after the last container_add, not when order_complete came in time', async () => {
    const source = await createSource();
    const hook = `/hook/ok/${unique('r')}`;
    const rule = await createTrigger(source.id, { kind: 'absence', after: 'container_add', missing: 'order_complete', within_minutes: 20 }, hook);
    const lost = unique('s');
    const add = event(lost, 'container_add', -2, { context: { type: 'product', id: 'p1', container: 'cart' } });
    await postEvents(source.secret_key, [event(lost, 'container_add', -5, { context: { type: 'product', id: 'p0', container: 'cart' } }), add]);
    const bought = unique('s');
    await postEvents(source.secret_key, [
      event(bought, 'container_add', -5, { context: { type: 'product', id: 'p1', container: 'cart' } }),
      event(bought, 'order_complete', -1, { context: { type: 'order', id: 'o1' } }),
    ]);

    // Stored: the wait goes on, nothing has fired.
    const before = {
      state: await runInDurableObject(
        sessionStub(source.id, lost),
        (_o, state) =>
          JSON.parse(stateRowOf(state.storage.sql)!) as {
            triggers: { watches: Record<string, { due: number }>; fired: string[] };
          },
      ),
      outbox: await tableRows(source.id, lost, 'outbox'),
    };
    expect(before.state.triggers.fired).toEqual([]);
    expect(before.state.triggers.watches[rule.id]!.due).toBe(Date.parse(add.occurred_at) + 20 * 60_000);
    expect(before.outbox).toBe(0);
    await runAlarm(source.id, lost); // 20 minutes after the last container_add
    const got = await waitForWebhooks(hook, 1);
    expect(got).toHaveLength(1);
    expect(got[0]!.headers['idempotency-key']).toBe(`${rule.id}:${source.id}:${lost}`);
    expect((JSON.parse(got[0]!.body) as { events: { event_id: string }[] }).events[0]!.event_id).toBe(add.event_id);

    await runAlarm(source.id, bought); // its close: the order came in time, nothing fires
    const watching = await runInDurableObject(sessionStub(source.id, bought), (_o, state) => stateRowOf(state.storage.sql)!);
    const outbox = await tableRows(source.id, bought, 'outbox');
    const triggers = (JSON.parse(watching) as { triggers: { watches: object; fired: string[] } }).triggers;
    expect(triggers).toMatchObject({ watches: {}, fired: [] });
    expect(outbox).toBe(0);
  });

  it('refuses a malformed rule and lists the rules without their secrets', async () => {
    const source = await createSource();
    const bad = await call(`/api/v1/admin/sources/${source.id}/triggers`, {
      method: 'POST',
      token: ADMIN_TOKEN,
      json: { name: 'x', definition: { kind: 'absence', after: 'container_add', missing: 'order_complete' }, webhook_url: 'https://hooks.example/x' },
    });
    expect(bad.status).toBe(400);
    await createTrigger(source.id, { kind: 'event', event: 'search' }, '/hook/ok/list');
    const list = (await (await call(`/api/v1/admin/sources/${source.id}/triggers`, { token: ADMIN_TOKEN })).json()) as { triggers: Record<string, unknown>[] };
    expect(list.triggers).toHaveLength(1);
    expect(list.triggers[0]!.secret).toBeUndefined();
    expect((await call(`/api/v1/admin/sources/${source.id}/triggers`, { token: source.secret_key })).status).toBe(401);
  });
});
