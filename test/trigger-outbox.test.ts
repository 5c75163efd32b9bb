import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import type { SessionObject } from '../src/sessions/session-object';
import { createSource, event, postEvents, unique } from './fixtures/api';
import { heldEvents, runAlarm, sessionStub, stateRowOf, tableRows } from './fixtures/sessions';
import { createTrigger, received, waitForWebhooks } from './fixtures/webhooks';

const outboxRows = (sourceId: string, sessionId: string) => tableRows(sourceId, sessionId, 'outbox');

/** Fault injection: the object's queue binding refuses every send (as a queue that is down would) until `restore`. */
async function refuseQueue(sourceId: string, sessionId: string, seen: { stateRowAtSend: boolean[] }) {
  await runInDurableObject(sessionStub(sourceId, sessionId), (instance: SessionObject, state) => {
    const down = {
      sendBatch: async () => {
        seen.stateRowAtSend.push(stateRowOf(state.storage.sql) !== null);
        throw new Error('queue unavailable (injected)');
      },
    };
    Object.defineProperty(instance, 'env', { value: { ...env, TRIGGERS: down }, configurable: true, writable: true });
  });
  return () => runInDurableObject(sessionStub(sourceId, sessionId), (instance: SessionObject) => Object.defineProperty(instance, 'env', { value: env }));
}

describe('fired triggers reach the queue in sends it accepts, and wait in their own table', () => {
  it('101 triggers from one batch, and 20 from events of 15 KB, are all delivered; the queue carries ids, the webhook the events', async () => {
    const source = await createSource();
    const hook = `/hook/ok/${unique('r')}`;
    await createTrigger(source.id, { kind: 'event', event: 'product_view' }, hook);
    const many = unique('s');
    const views = Array.from({ length: 101 }, (_, i) => event(many, 'product_view', -200 + i, { context: { type: 'product', id: `p${i}` } }));
    expect((await postEvents(source.secret_key, views)).status).toBe(200);
    const big = unique('s');
    const heavy = Array.from({ length: 20 }, (_, i) =>
      event(big, 'product_view', -30 + i, { context: { type: 'product', id: `b${i}`, description: 'x'.repeat(15_000) } }),
    );
    expect((await postEvents(source.secret_key, heavy)).status).toBe(200);

    const got = await waitForWebhooks(hook, 121);
    expect(got).toHaveLength(121);
    const delivered = got.map((r) => JSON.parse(r.body) as { events: { event_id: string; context: { description?: string } }[] });
    expect(new Set(delivered.map((d) => d.events[0]!.event_id))).toEqual(new Set([...views, ...heavy].map((e) => e.event_id)));
    expect(delivered.filter((d) => d.events[0]!.context.description?.length === 15_000)).toHaveLength(20);
    for (const id of [many, big]) {
      expect(await outboxRows(source.id, id)).toBe(0);
      const row = await runInDurableObject(sessionStub(source.id, id), (_o, state) => stateRowOf(state.storage.sql)!);
      expect(row).not.toContain('outbox');
      expect(row.length).toBeLessThan(4_000);
    }
  }, 60_000);

  it('a queue that refuses sends loses nothing: the state is saved before the call, the events stay stored, the triggers go once the queue is back', async () => {
    const source = await createSource();
    const hook = `/hook/ok/${unique('r')}`;
    await createTrigger(source.id, { kind: 'event', event: 'search' }, hook);
    const sessionId = unique('s');
    // A new object: its first events fire the triggers, and the send is its first call out.
    const seen = { stateRowAtSend: [] as boolean[] };
    const restore = await refuseQueue(source.id, sessionId, seen);

    const searches = [1, 2, 3].map((i) => event(sessionId, 'search', -4 + i, { context: { type: 'search', query: `q${i}` } }));
    const { status, body } = await postEvents(source.secret_key, searches);
    expect([status, body.results.map((r) => r.status)]).toEqual([200, ['accepted', 'accepted', 'accepted']]);
    expect(seen.stateRowAtSend).toEqual([true]);
    expect(await outboxRows(source.id, sessionId)).toBe(3);

    await runAlarm(source.id, sessionId); // the outbox's retry: the send fails again
    expect(await heldEvents(source.id, sessionId)).toBe(3);
    expect(await outboxRows(source.id, sessionId)).toBe(3);
    expect(await received(hook)).toEqual([]);

    await restore();
    await runAlarm(source.id, sessionId);
    expect(await outboxRows(source.id, sessionId)).toBe(0);
    expect(await waitForWebhooks(hook, 3)).toHaveLength(3);
  });
});
