import { createExecutionContext, createScheduledController, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import worker from '../src/index';
import { shards } from '../src/storage/shards';
import { call, createSource, event, postEvents, unique } from './fixtures/api';
import { seedSession } from './fixtures/segment-data';
import { alarmOf, d1Events, d1Session, eventually, type LiveSession, readSession, runAlarm, tableRows } from './fixtures/sessions';

const DAY = 24 * 60;

/** A session in D1 whose one event happened `ageDays` ago and arrived `receivedDaysAgo` ago. */
async function seedD1(sourceId: string, ageDays: number, customerId: string | null, receivedDaysAgo = ageDays) {
  const sessionId = unique('old');
  await seedSession(sourceId, sessionId, customerId, [{ name: 'page_view', days: ageDays }], Date.now(), Date.now() - receivedDaysAgo * DAY * 60_000);
  return sessionId;
}

/** Rows the session's object still holds: its events and its state. */
const heldRows = (sourceId: string, sessionId: string) => tableRows(sourceId, sessionId, 'events', 'state');

describe('retention', () => {
  it('the cron deletes anonymous sessions 60 days after their last event arrived (on every shard); the rest stay', async () => {
    const sourceId = unique('src');
    const oldAnonymous = await seedD1(sourceId, 61, null);
    const oldCustomer = await seedD1(sourceId, 61, 'cust-1');
    const youngAnonymous = await seedD1(sourceId, 59, null);
    const backfilled = await seedD1(sourceId, 61, null, 0); // dated 61 days ago, received today

    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ scheduledTime: Date.now(), cron: '17 * * * *' }), env, ctx);
    await waitOnExecutionContext(ctx);

    expect(await d1Session(sourceId, oldAnonymous)).toBeNull();
    for (const kept of [oldCustomer, youngAnonymous, backfilled]) expect(await d1Session(sourceId, kept)).not.toBeNull();
    expect(await d1Events(sourceId, oldCustomer)).toHaveLength(1);
  });

  it('a session object deletes its own storage 60 days after the last event arrived, once D1 holds it all', async () => {
    const source = await createSource();
    const anonymous = unique('s');
    const young = unique('s');
    await postEvents(source.secret_key, [event(anonymous, 'page_view', -61 * DAY), event(young, 'page_view', -59 * DAY)]);
    // Dated 61 days ago but received now: the first alarm (due at once, by itself) writes D1 and closes, and the session stays.
    await eventually(async () => (await d1Session(source.id, anonymous))?.status === 'closed');
    // Its next alarm is its retention delete.
    await eventually(async () => ((await alarmOf(source.id, anonymous)) ?? 0) > Date.now() + 59 * 86_400_000);
    expect((await readSession(source.id, anonymous, source.secret_key)).status).toBe(200);
    // Run now, that alarm acts as at its time.
    expect(await runAlarm(source.id, anonymous)).toBe(true);

    expect((await readSession(source.id, anonymous, source.secret_key)).status).toBe(404);
    expect(await heldRows(source.id, anonymous)).toBe(0);
    expect((await readSession(source.id, young, source.secret_key)).body.session.event_count).toBe(1);
  });

  it("an identified session's object goes as an anonymous one's would; D1 keeps the session, and its live read answers the same JSON from there", async () => {
    const source = await createSource();
    const sessionId = unique('s');
    const context = { type: 'product', id: 'sku-1', price: 12 };
    await postEvents(source.secret_key, [
      event(sessionId, 'user_login', -61 * DAY, { customer_id: 'cust-7', device: { os: 'ios' } }),
      event(sessionId, 'product_view', -61 * DAY + 1, { context, seq: 2 }),
      event(sessionId, 'page_view', -61 * DAY + 2, { device: { os: 'android' } }),
    ]);
    // Its close time is long past: its alarm fires at once by itself.
    await eventually(async () => (await d1Session(source.id, sessionId))?.status === 'closed');
    const live = await readSession(source.id, sessionId, source.secret_key);
    const page = await call(`/api/v1/sessions/${source.id}/${sessionId}?limit=2`, { token: source.secret_key });
    const firstPage = await page.json();

    // 60 days after its last arrival, its object deletes what it holds (D1 and the lake have it all).
    await eventually(async () => ((await alarmOf(source.id, sessionId)) ?? 0) > Date.now() + 59 * 86_400_000);
    expect(await runAlarm(source.id, sessionId)).toBe(true);
    expect(await heldRows(source.id, sessionId)).toBe(0);

    // Read from D1 now: the same JSON, pages and cursors included.
    expect(await readSession(source.id, sessionId, source.secret_key)).toEqual(live);
    expect(await (await call(`/api/v1/sessions/${source.id}/${sessionId}?limit=2`, { token: source.secret_key })).json()).toEqual(firstPage);
    const cursor = (firstPage as { next_cursor: string }).next_cursor;
    const rest = (await (
      await call(`/api/v1/sessions/${source.id}/${sessionId}?limit=2&cursor=${cursor}`, { token: source.secret_key })
    ).json()) as LiveSession;
    expect(rest.events.map((e) => e.event_id)).toEqual([live.body.events[2]!.event_id]);

    // The id used again: a new life of the session, a new D1 row; the old one keeps its events.
    await postEvents(source.secret_key, [event(sessionId, 'page_view', 0)]);
    await runAlarm(source.id, sessionId);
    const rows = await Promise.all(
      shards(env).map(
        async ({ db }) =>
          (
            await db
              .prepare('SELECT incarnation, event_count FROM sessions WHERE session_id = ?')
              .bind(sessionId)
              .all<{ incarnation: number; event_count: number }>()
          ).results,
      ),
    );
    expect(
      rows
        .flat()
        .sort((a, b) => a.incarnation - b.incarnation)
        .map((r) => r.event_count),
    ).toEqual([3, 1]);
    expect((await readSession(source.id, sessionId, source.secret_key)).body.session.event_count).toBe(1);
  });
});
