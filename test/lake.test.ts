import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import type { LakeRecord } from '../src/storage/lake';
import schema from '../src/storage/lake.schema.json';
import sessionsSchema from '../src/storage/lake-sessions.schema.json';
import { beacon, createSource, event, postEvents, SHOP, unique } from './fixtures/api';
import { ageSession, d1Session, eventually, failD1For, heldEvents, runAlarm, sessionStub } from './fixtures/sessions';

const lake = (sourceId: string) => env.LAKE.records(sourceId);
/** What a lake reader keeps: per event, the record of the highest version. */
function latest(records: LakeRecord[]): Map<string, LakeRecord> {
  const kept = new Map<string, LakeRecord>();
  for (const r of records) if ((kept.get(r.event_id)?.version ?? -1) < r.version) kept.set(r.event_id, r);
  return kept;
}

describe('the lake (a Pipelines stream to an R2 Iceberg table)', () => {
  it("sends records of exactly the fields the stream's committed schema declares", async () => {
    const source = await createSource();
    const sessionId = unique('s');
    await postEvents(source.secret_key, [event(sessionId, 'page_view', -1)]);
    await runAlarm(source.id, sessionId);
    const [record] = await lake(source.id);
    expect(Object.keys(record!).sort()).toEqual(schema.fields.map((f) => f.name).sort());
    for (const f of schema.fields.filter((f) => f.required)) expect(record![f.name as keyof LakeRecord], f.name).not.toBeNull();
  });

  it('gets every accepted event exactly once per version, and nothing for a duplicate or a rejected event', async () => {
    const source = await createSource();
    const sessionId = unique('s');
    const events = [event(sessionId, 'page_view', -3), event(sessionId, 'product_view', -2, { context: { type: 'product', id: 'sku-1', price: 9.5 } })];
    await postEvents(source.secret_key, [...events, { ...event(sessionId, 'product_view', -1), context: null }]);
    await postEvents(source.secret_key, [events[0]]); // a retry
    await runAlarm(source.id, sessionId);
    await runAlarm(source.id, sessionId); // nothing new: nothing sent again

    const records = await lake(source.id);
    expect(records.map((r) => [r.event_id, r.version])).toEqual(events.map((e) => [e.event_id, 0]));
    expect(records[1]).toMatchObject({
      session_id: sessionId,
      name: 'product_view',
      customer_id: null,
      context: JSON.stringify({ type: 'product', id: 'sku-1', price: 9.5 }),
      flags: '[]',
    });
    expect(Date.parse(records[1]!.archived_at)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('a session de-anonymized after its events were archived sends each of them again as the next version, with the customer', async () => {
    const source = await createSource();
    const sessionId = unique('s');
    const anonymous = [event(sessionId, 'page_view', -3), event(sessionId, 'search', -2, { context: { type: 'search', query: 'mug' } })];
    await postEvents(source.secret_key, anonymous);
    await runAlarm(source.id, sessionId);
    const login = event(sessionId, 'user_login', -1, { customer_id: 'cust-9' });
    await postEvents(source.secret_key, [login]);
    await runAlarm(source.id, sessionId);

    const records = await lake(source.id);
    expect(records.map((r) => [r.name, r.version, r.customer_id])).toEqual([
      ['page_view', 0, null],
      ['search', 0, null],
      ['page_view', 1, 'cust-9'],
      ['search', 1, 'cust-9'],
      ['user_login', 0, 'cust-9'], // its first record: version 0, whatever the session's changes before
    ]);
    expect([...latest(records).values()].every((r) => r.customer_id === 'cust-9')).toBe(true);
  });

  it('D1 refusing every write: the lake still gets the events, and the anonymous session is not deleted before D1 has them too', async () => {
    const source = await createSource();
    const sessionId = unique('s');
    const restore = await failD1For(sessionId);
    await postEvents(source.secret_key, [event(sessionId, 'page_view', -2), event(sessionId, 'page_view', -1)]);
    await runAlarm(source.id, sessionId);
    expect(await lake(source.id)).toHaveLength(2);
    expect(await d1Session(source.id, sessionId)).toBeNull();

    await ageSession(source.id, sessionId);
    for (let i = 0; i < 3; i++) await runAlarm(source.id, sessionId);
    expect(await heldEvents(source.id, sessionId)).toBe(2);

    await restore();
    await runAlarm(source.id, sessionId);
    expect(await d1Session(source.id, sessionId)).toMatchObject({ event_count: 2 });
    // Its retention delete is now due at once: this test's run of the alarm, or its own.
    await runAlarm(source.id, sessionId);
    await eventually(async () => (await heldEvents(source.id, sessionId)) === 0);
    expect(await lake(source.id)).toHaveLength(2); // nothing sent twice
  });

  it('the lake refusing sends: D1 goes on, and the session is not deleted before the lake has its events', async () => {
    const source = await createSource();
    const sessionId = unique('s');
    await env.LAKE.refuse(source.id, true);
    await postEvents(source.secret_key, [event(sessionId, 'page_view', -2)]);
    await runAlarm(source.id, sessionId);
    expect(await d1Session(source.id, sessionId)).toMatchObject({ event_count: 1 });
    expect(await lake(source.id)).toEqual([]);

    await ageSession(source.id, sessionId);
    for (let i = 0; i < 3; i++) await runAlarm(source.id, sessionId);
    expect(await heldEvents(source.id, sessionId)).toBe(1);

    await env.LAKE.refuse(source.id, false);
    await runAlarm(source.id, sessionId);
    expect(await lake(source.id)).toHaveLength(1);
    await runAlarm(source.id, sessionId);
    await eventually(async () => (await heldEvents(source.id, sessionId)) === 0);
  });

  it('gets each closed session in the sessions stream: once at its close, again at each change after, and a tombstone on erasure', async () => {
    const shop = await createSource({ kind: 'website', allowed_origins: [SHOP] });
    const sessionId = unique('s');
    const wire = (n: string, minutesAgo: number, q: number) => ({
      i: crypto.randomUUID(),
      s: sessionId,
      n,
      t: Date.now() - minutesAgo * 60_000,
      q,
      u: `${SHOP}/`,
    });
    await beacon(shop.public_key, [wire('page_view', 5, 1)]);
    expect(await env.LAKE_SESSIONS.records(shop.id)).toEqual([]); // open: nothing yet
    await runAlarm(shop.id, sessionId); // its inactivity close: the lake gets the events, then the closed session
    // (Its next alarm is the retention delete, 60 days on: a test must not run it early here.)
    const [closed, ...none] = await env.LAKE_SESSIONS.records(shop.id);
    expect(none).toEqual([]);
    expect(Object.keys(closed!).sort()).toEqual(sessionsSchema.fields.map((f) => f.name).sort());
    expect(closed).toMatchObject({ session_id: sessionId, status: 'closed', event_count: 1, erased: false });
    expect(closed).toMatchObject(await d1Session(shop.id, sessionId).then((r) => ({ started_at: r!.started_at, closed_at: r!.closed_at })));

    // A tracker retry lands late in the closed session: the next version.
    // A closed session is written out at once, after the answer, with no alarm of its own.
    await beacon(shop.public_key, [{ ...wire('search', 4, 2), c: { search: { query: 'mug' } } }]);
    await eventually(async () => (await env.LAKE_SESSIONS.records(shop.id)).length === 2);
    const versions = await env.LAKE_SESSIONS.records(shop.id);
    expect(versions.map((r) => r.event_count)).toEqual([1, 2]);
    expect(versions[1]!.version).toBeGreaterThan(versions[0]!.version);

    // Erased (here: the whole session, as an erasure of its customer does): a tombstone without the visitor's facts.
    await sessionStub(shop.id, sessionId).erase();
    const last = (await env.LAKE_SESSIONS.records(shop.id)).at(-1)!;
    expect(last).toMatchObject({ session_id: sessionId, erased: true, landing_url: null, user_agent: null });
    expect(last.version).toBeGreaterThan(versions[1]!.version);
  });
});
