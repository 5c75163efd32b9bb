import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { purgeExpired } from '../src/retention/purge';
import { EVENTS_WITH_SESSION } from '../src/storage/records';
import { shards } from '../src/storage/shards';
import { recordDeadLetter } from '../src/storage/triggers';
import { ADMIN_TOKEN, beacon, call, createSource, event, postEvents, SHOP, unique } from './fixtures/api';
import { seedSession } from './fixtures/segment-data';
import { ageSession, d1Session, heldEvents, readSession, runAlarm, tableRows } from './fixtures/sessions';

const erase = async (customerId: string, token: string) => {
  const res = await call(`/api/v1/customers/${encodeURIComponent(customerId)}`, { method: 'DELETE', token });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};
/** A count over every D1 shard. */
const d1Count = async (sql: string, ...binds: unknown[]) => {
  let n = 0;
  for (const { db } of shards(env))
    n += (await db
      .prepare(sql)
      .bind(...binds)
      .first<{ n: number }>())!.n;
  return n;
};

describe('erasing a customer', () => {
  it("erases their sessions in the objects and in D1, their events elsewhere, memberships and dead letters, on the key's source only; a repeat erases nothing", async () => {
    const customer = unique('cust-e');
    const a = await createSource();
    const [s1, s2, s3] = [unique('s'), unique('s'), unique('s')];
    await postEvents(a.secret_key, [
      event(s1, 'page_view', -5),
      event(s1, 'user_login', -4, { customer_id: customer }),
      event(s1, 'order_complete', -3, { customer_id: customer, context: { type: 'order', id: 'o1', total: 10 } }),
    ]);
    await postEvents(a.secret_key, [event(s2, 'page_view', -2), event(s2, 'user_registration', -1, { customer_id: customer })]);
    // Another customer's session in which an event named ours (an identity conflict).
    await postEvents(a.secret_key, [event(s3, 'user_login', -3, { customer_id: 'someone-else' }), event(s3, 'page_view', -2, { customer_id: customer })]);
    // On another source, a claim the browser made (kept aside, unverified).
    const b = await createSource({ kind: 'website', allowed_origins: [SHOP], require_verified_identity: false });
    const claimed = unique('s');
    await beacon(b.public_key, [{ i: crypto.randomUUID(), s: claimed, n: 'user_login', t: Date.now(), q: 1, u: `${SHOP}/`, cu: customer }]);
    for (const [source, id] of [
      [a.id, s1],
      [a.id, s2],
      [a.id, s3],
      [b.id, claimed],
    ] as const)
      await runAlarm(source, id);
    const segment = (await (
      await call('/api/v1/segments', { method: 'POST', token: a.secret_key, json: { name: 'buyers', definition: { event: 'order_complete' } } })
    ).json()) as { id: string; member_count: number };
    expect(segment.member_count).toBe(1);
    await recordDeadLetter(env.DB, { ruleId: 'trg_x', key: `k-${customer}`, sourceId: a.id, customerId: customer, payload: '{}' });

    const first = await erase(customer, a.secret_key);
    expect(first).toEqual({
      status: 200,
      body: { customer_id: customer, sessions: 2, events: 6, segment_memberships: 1, dead_letters: 1, link_landings: 0, console_items: 0, complete: true },
    });

    for (const id of [s1, s2]) {
      expect((await readSession(a.id, id, a.secret_key)).status).toBe(404);
      expect(await d1Session(a.id, id)).toBeNull();
      expect(await heldEvents(a.id, id)).toBe(0);
    }
    expect(await d1Count('SELECT count(*) AS n FROM web_events WHERE customer_id = ?', customer)).toBe(0);
    expect(await d1Count(`SELECT count(*) AS n FROM ${EVENTS_WITH_SESSION} WHERE s.session_id = ?`, s3)).toBe(1); // the other customer's own event stays
    // ...and out of that session's object too, not only out of D1.
    expect((await readSession(a.id, s3, a.secret_key)).body.events.map((e) => e.customer_id)).toEqual(['someone-else']);
    // The lake got a tombstone, the last version, of each of the customer's events.
    const latest = new Map<string, { version: number; erased: boolean; customer_id: string | null }>();
    for (const r of await env.LAKE.records(a.id)) if ((latest.get(r.event_id)?.version ?? -1) < r.version) latest.set(r.event_id, r);
    const erased = [...latest.values()].filter((r) => r.erased);
    expect(erased).toHaveLength(6);
    expect(erased.every((r) => r.customer_id === null)).toBe(true);
    expect([...latest.values()].filter((r) => !r.erased).map((r) => r.customer_id)).toEqual(['someone-else']);
    expect(await d1Count('SELECT count(*) AS n FROM segment_members WHERE customer_id = ?', customer)).toBe(0);
    expect(((await (await call(`/api/v1/segments/${segment.id}`, { token: a.secret_key })).json()) as { member_count: number }).member_count).toBe(0);
    expect(await d1Count('SELECT count(*) AS n FROM trigger_dead_letters WHERE customer_id = ?', customer)).toBe(0);
    expect(await d1Session(b.id, claimed)).toMatchObject({ claimed_customer_id: customer }); // another source: not this key's

    expect((await erase(customer, a.secret_key)).body).toMatchObject({ sessions: 0, events: 0, segment_memberships: 0, dead_letters: 0, complete: true });
    expect((await erase(customer, ADMIN_TOKEN)).body).toMatchObject({ sessions: 1, events: 1 });
    expect(await d1Session(b.id, claimed)).toBeNull();
    expect((await call(`/api/v1/customers/${customer}`, { method: 'DELETE', token: b.public_key })).status).toBe(401);
  });

  it('identified sessions are kept until erased, unless IDENTIFIED_RETENTION_DAYS says otherwise', async () => {
    const sourceId = unique('src');
    const seed = async (customerId: string, ageDays: number) => {
      const sessionId = unique('s');
      const at = Date.now() - ageDays * 86_400_000;
      await seedSession(sourceId, sessionId, customerId, [{ name: 'page_view', days: 0 }], at, at);
      return sessionId;
    };
    const old = await seed('cust-old', 40);
    const recent = await seed('cust-new', 10);
    await purgeExpired(env);
    expect(await d1Session(sourceId, old)).not.toBeNull();
    await purgeExpired({ ...env, IDENTIFIED_RETENTION_DAYS: '30' });
    expect(await d1Session(sourceId, old)).toBeNull();
    expect(await d1Session(sourceId, recent)).not.toBeNull();
  });

  it("erases a session whose object is gone (identified, past its 60 days) from D1, with the lake's tombstones made from D1", async () => {
    const source = await createSource();
    const customer = unique('cust-g');
    const sessionId = unique('s');
    const sent = [event(sessionId, 'user_login', -3, { customer_id: customer }), event(sessionId, 'page_view', -2)];
    await postEvents(source.secret_key, sent); // D1 gets it at once, after the answer
    await runAlarm(source.id, sessionId); // closes it (an hour on): the lake gets its events and the closed session
    await ageSession(source.id, sessionId);
    await runAlarm(source.id, sessionId); // 60 days on: the object goes
    expect(await tableRows(source.id, sessionId, 'events', 'state')).toBe(0);
    expect(await d1Session(source.id, sessionId)).not.toBeNull();

    const { body } = await erase(customer, source.secret_key);
    expect(body).toMatchObject({ sessions: 1, events: 2, complete: true });
    expect(await d1Session(source.id, sessionId)).toBeNull();
    const tombstones = (await env.LAKE.records(source.id)).filter((r) => r.erased);
    expect(tombstones.map((r) => r.event_id).sort()).toEqual(sent.map((e) => e.event_id).sort());
    expect(tombstones.every((r) => r.customer_id === null)).toBe(true);
    const sessions = await env.LAKE_SESSIONS.records(source.id);
    expect(sessions.at(-1)).toMatchObject({ session_id: sessionId, erased: true, customer_id: null });
    expect(sessions.at(-1)!.version).toBeGreaterThan(sessions[0]!.version);
  });
});

describe('the customer id out of URLs', () => {
  it('lists and erases with the customer id in the body, as the path forms do', async () => {
    const source = await createSource();
    const customer = unique('cust-body');
    const sessionId = unique('s');
    await postEvents(source.secret_key, [event(sessionId, 'user_login', -2, { customer_id: customer })]);
    await runAlarm(source.id, sessionId);
    const listed = await call('/api/v1/customers/sessions', { method: 'POST', token: source.secret_key, json: { customer_id: customer } });
    expect(listed.status).toBe(200);
    expect(((await listed.json()) as { sessions: { session_id: string }[] }).sessions.map((s) => s.session_id)).toEqual([sessionId]);
    const byPath = await call(`/api/v1/customers/${customer}/sessions`, { token: source.secret_key });
    expect(((await byPath.json()) as { sessions: unknown[] }).sessions).toHaveLength(1);
    const admin = await call('/api/v1/customers/sessions', { method: 'POST', token: ADMIN_TOKEN, json: { customer_id: customer } });
    expect(admin.status).toBe(400);
    const erased = await call('/api/v1/customers/erase', { method: 'POST', token: source.secret_key, json: { customer_id: customer } });
    expect(await erased.json()).toMatchObject({ customer_id: customer, sessions: 1, complete: true });
    expect((await readSession(source.id, sessionId, source.secret_key)).status).toBe(404);
    const bad = await call('/api/v1/customers/erase', { method: 'POST', token: source.secret_key, json: {} });
    expect(bad.status).toBe(400);
  });
});

describe('an erasure the lake refuses', () => {
  it('answers 503 with Retry-After, erases nothing, and leaves the lake reading the events as live (found by the simulation)', async () => {
    const source = await createSource();
    const customer = unique('cust-lake');
    const sessionId = unique('s');
    await postEvents(source.secret_key, [event(sessionId, 'user_login', -1, { customer_id: customer })]);
    // The events' tombstones get through; the session's own does not.
    await env.LAKE_SESSIONS.refuse(source.id, true);
    const refused = await erase(customer, source.secret_key);
    await env.LAKE_SESSIONS.refuse(source.id, false);
    expect(refused).toMatchObject({ status: 503, body: { error: { code: 'unavailable' } } });
    expect((await readSession(source.id, sessionId, source.secret_key)).body.session.customer_id).toBe(customer);
    await runAlarm(source.id, sessionId); // the close: the lake gets the events, above the tombstones sent
    const latest = new Map<string, { version: number; erased: boolean }>();
    for (const r of await env.LAKE.records(source.id)) if ((latest.get(r.event_id)?.version ?? -1) < r.version) latest.set(r.event_id, r);
    expect([...latest.values()].map((r) => r.erased)).toEqual([false]);
    // Retried once the lake is back, it erases.
    expect((await erase(customer, source.secret_key)).body).toMatchObject({ sessions: 1, complete: true });
  });
});
