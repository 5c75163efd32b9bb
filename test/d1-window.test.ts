import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { tunables } from '../src/config';
import { purgeExpired } from '../src/retention/purge';
import { customerShard, shards } from '../src/storage/shards';
import { call, createSource, unique } from './fixtures/api';
import { seedSession } from './fixtures/segment-data';

const DAY_MS = 86_400_000;
/** The capacity bench's run: 1,000 sessions of 20 events. */
const BENCH_EVENTS = 20_000;

const eventsOf = async (sourceId: string) => {
  let n = 0;
  for (const { db } of shards(env))
    n += (await db.prepare('SELECT count(*) AS n FROM web_events WHERE source_id = ?').bind(sourceId).first<{ n: number }>())!.n;
  return n;
};

describe(`the D1 event window (D1_EVENT_DAYS, ${tunables(env).d1EventDays} days)`, () => {
  it(`one purge run trims the bench's traffic past the window (${BENCH_EVENTS.toLocaleString('en')} events on two shards) in bounded statements; the rest stays`, async () => {
    const source = await createSource();
    const days = tunables(env).d1EventDays!;
    const past = Date.now() - (days + 1) * DAY_MS;
    // Two customers on different shards, each with half the events, past the window; and one recent session.
    const first = unique('cust');
    let second = unique('cust');
    while (customerShard(env, second).name === customerShard(env, first).name) second = unique('cust');
    const half = Array.from({ length: BENCH_EVENTS / 2 }, () => ({ name: 'page_view', days: 0 }));
    await seedSession(source.id, unique('old'), first, half, past, past);
    await seedSession(source.id, unique('old'), second, half, past, past);
    await seedSession(source.id, unique('new'), first, [{ name: 'page_view', days: 1 }]);
    expect(await eventsOf(source.id)).toBe(BENCH_EVENTS + 1);

    const started = Date.now();
    const run = await purgeExpired(env);
    // Measured here, not asserted (the machine is shared): the rate the trim reached in this run.
    console.log(
      JSON.stringify({ trimmed: run.eventsTrimmed, ms: Date.now() - started, per_second: Math.round(run.eventsTrimmed / ((Date.now() - started) / 1000)) }),
    );
    expect(run).toMatchObject({ finished: true });
    expect(run.eventsTrimmed).toBe(BENCH_EVENTS);
    expect(await eventsOf(source.id)).toBe(1);
  }, 60_000);

  it('a segment that looks back further than D1 keeps events is refused, naming the field', async () => {
    const source = await createSource();
    const days = tunables(env).d1EventDays!;
    const res = await call('/api/v1/segments/preview', {
      method: 'POST',
      token: source.secret_key,
      json: { definition: { all: [{ event: 'page_view', within_days: 7 }, { not: { event: 'order_complete', within_days: days + 1 } }] } },
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string; details: { path: string }[] } };
    expect(body.error.details.map((d) => d.path)).toEqual(['definition.all.1.not.within_days']);
    expect(body.error.message).toMatch(/D1_EVENT_DAYS/);
  });
});
