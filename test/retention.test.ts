import { createExecutionContext, createScheduledController, runInDurableObject, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import worker from '../src/index';
import { createSource, event, postEvents, unique } from './fixtures/api';
import { seedSession } from './fixtures/segment-data';
import { alarmOf, d1Events, d1Session, eventually, readSession, runAlarm, sessionStub } from './fixtures/sessions';

const DAY = 24 * 60;

/** A session in D1 whose one event happened `ageDays` ago and arrived `receivedDaysAgo` ago. */
async function seedD1(sourceId: string, ageDays: number, customerId: string | null, receivedDaysAgo = ageDays) {
  const sessionId = unique('old');
  await seedSession(sourceId, sessionId, customerId, [{ name: 'page_view', days: ageDays }], Date.now(), Date.now() - receivedDaysAgo * DAY * 60_000);
  return sessionId;
}

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
    const identified = unique('s');
    const young = unique('s');
    await postEvents(source.secret_key, [
      event(anonymous, 'page_view', -61 * DAY),
      event(identified, 'user_login', -61 * DAY, { customer_id: 'cust-7' }),
      event(young, 'page_view', -59 * DAY),
    ]);
    // Dated 61 days ago but received now: the first alarm (due at once) writes D1 and closes, and the session stays.
    for (const id of [anonymous, identified]) {
      await runAlarm(source.id, id);
      await eventually(async () => (await d1Session(source.id, id))?.status === 'closed');
    }
    // The anonymous one's next alarm is its retention delete; the identified one has none.
    await eventually(async () => ((await alarmOf(source.id, anonymous)) ?? 0) > Date.now() + 59 * 86_400_000);
    expect(await alarmOf(source.id, identified)).toBeNull();
    expect((await readSession(source.id, anonymous, source.secret_key)).status).toBe(200);
    // Run now, that alarm acts as at its time.
    expect(await runAlarm(source.id, anonymous)).toBe(true);

    expect((await readSession(source.id, anonymous, source.secret_key)).status).toBe(404);
    const left = await runInDurableObject(
      sessionStub(source.id, anonymous),
      (_instance, state) => state.storage.sql.exec<{ n: number }>('SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM state) AS n').one().n,
    );
    expect(left).toBe(0);
    expect((await readSession(source.id, identified, source.secret_key)).body.session.customer_id).toBe('cust-7');
    expect((await readSession(source.id, young, source.secret_key)).body.session.event_count).toBe(1);
  });
});
