import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { customerHash } from '../src/sources/identity';
import { beacon, call, createSource, event, postEvents, SHOP, unique } from './fixtures/api';
import { alarmOf, d1Session, eventually, readSession, runAlarm } from './fixtures/sessions';

const DAY = 24 * 60; // minutes
const at = (iso: string) => ({ occurred_at: iso });

describe('an accepted event is kept, whatever its clock said', () => {
  it('REST events dated 61 days ago are accepted, archived, recorded in D1 and still readable after every alarm due', async () => {
    const source = await createSource();
    const sessionId = unique('s');
    const { body } = await postEvents(source.secret_key, [event(sessionId, 'page_view', -61 * DAY), event(sessionId, 'page_view', -61 * DAY + 1)]);
    expect(body.results.map((r) => r.status)).toEqual(['accepted', 'accepted']);
    // Their close time is long past: the alarm fires at once by itself (a test's run could come after it,
    // and run the next one, the retention delete, early).
    await eventually(async () => (await d1Session(source.id, sessionId))?.status === 'closed');
    // What remains due is the retention delete, 60 days after the arrival (not after the date sent).
    await eventually(async () => ((await alarmOf(source.id, sessionId)) ?? 0) - Date.now() > 59 * 86_400_000);
    expect((await readSession(source.id, sessionId, source.secret_key)).body.events).toHaveLength(2);
    expect(await env.LAKE.records(source.id)).toHaveLength(2);
    expect(await d1Session(source.id, sessionId)).toMatchObject({ status: 'closed', event_count: 2 });
  });

  it('a device clock years off is clamped to the arrival and flagged; a partner date older than 365 days is refused alone', async () => {
    const app = await createSource({ kind: 'mobile_app' });
    const sessionId = unique('s');
    const res = await call('/v1/sdk/events', {
      method: 'POST',
      headers: { 'x-source-key': app.public_key },
      json: {
        events: [
          { ...event(sessionId, 'app_open', 0), ...at('1970-01-01T00:00:00Z') },
          { ...event(sessionId, 'app_open', 0), ...at('1900-01-01T00:00:00Z') },
        ],
      },
    });
    expect(((await res.json()) as { results: { status: string }[] }).results.map((r) => r.status)).toEqual(['accepted', 'accepted']);
    const live = (await readSession(app.id, sessionId, app.secret_key)).body;
    for (const e of live.events) {
      expect(e.flags).toEqual(['clock_skew']);
      expect(Date.now() - Date.parse(e.occurred_at)).toBeLessThan(60_000);
    }

    const server = await createSource();
    const partner = unique('s');
    const { body } = await postEvents(server.secret_key, [
      { ...event(partner, 'page_view', 0), ...at('1900-01-01T00:00:00Z') },
      event(partner, 'page_view', 0),
      { ...event(partner, 'page_view', 0), ...at('1969-12-31T23:59:59Z') },
    ]);
    expect(body.results.map((r) => [r.status, r.error?.details[0]?.path])).toEqual([
      ['rejected', 'occurred_at'],
      ['accepted', undefined],
      ['rejected', 'occurred_at'],
    ]);
    expect(body.results[0]!.error!.message).toMatch(/365 days/);
  });

  it('a new session whose first event is dated 1900 or 1969 does not poison its batch: the good events are stored, no 5xx', async () => {
    const app = await createSource({ kind: 'mobile_app' });
    for (const first of ['1900-01-01T00:00:00Z', '1969-12-31T23:59:59Z']) {
      const sessionId = unique('s');
      const res = await call('/v1/sdk/events', {
        method: 'POST',
        headers: { 'x-source-key': app.public_key },
        json: { events: [{ ...event(sessionId, 'app_open', 0), ...at(first) }, event(sessionId, 'screen_view', 0)] },
      });
      expect(res.status).toBe(200);
      await runAlarm(app.id, sessionId);
      expect(await d1Session(app.id, sessionId)).toMatchObject({ event_count: 2 });
      expect((await env.LAKE.records(app.id)).filter((r) => r.session_id === sessionId)).toHaveLength(2);
    }
  });

  it('a tracker time outside what a date can hold refuses only its event, with the field named, never a 500', async () => {
    const shop = await createSource({ kind: 'website', allowed_origins: [SHOP] });
    const sessionId = unique('s');
    const wire = (t: unknown) => ({ i: crypto.randomUUID(), s: sessionId, n: 'page_view', t, q: 1, u: `${SHOP}/` });
    const good = wire(Date.now());
    const res = await beacon(shop.public_key, [wire(1e20), wire(-1e20), wire(8.64e15 + 1), good]);
    expect(res.status).toBe(400);
    const refused = (await res.json()) as { error: { code: string; details: { path: string }[] } };
    expect(refused.error.code).toBe('invalid_events');
    expect(refused.error.details.map((d) => d.path)).toEqual(['e.0.occurred_at', 'e.1.occurred_at', 'e.2.occurred_at']);
    expect((await readSession(shop.id, sessionId, shop.secret_key)).body.events.map((e) => e.event_id)).toEqual([good.i]);
  });

  it('verified identity: a login proven by its customer_hash links the session on the tracker too', async () => {
    const shop = await createSource({ kind: 'website', allowed_origins: [SHOP] });
    const sessionId = unique('s');
    const ch = await customerHash(shop.identity_secret, 'cust-3');
    expect(
      (await beacon(shop.public_key, [{ i: crypto.randomUUID(), s: sessionId, n: 'user_login', t: Date.now(), q: 1, u: `${SHOP}/`, cu: 'cust-3', ch }])).status,
    ).toBe(204);
    expect((await readSession(shop.id, sessionId, shop.secret_key)).body.session).toMatchObject({ customer_id: 'cust-3', deanonymized_by: 'login' });
  });
});
