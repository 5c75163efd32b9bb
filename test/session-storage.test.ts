import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import type { SessionRecord } from '../src/events/session-record';
import { SessionObject } from '../src/sessions/session-object';
import { customerShard, shards } from '../src/storage/shards';
import { beacon, call, createSource, event, postEvents, SHOP, unique } from './fixtures/api';
import { alarmOf, d1Events, d1Session, eventually, runAlarm, sessionStub, stateRowOf } from './fixtures/sessions';

/** Changes a stored D1 row behind the collector's back (on every shard: one holds it). */
const tamper = (sourceId: string, eventId: string) =>
  Promise.all(
    shards(env).map((s) => s.db.prepare("UPDATE web_events SET name = 'tampered' WHERE source_id = ? AND event_id = ?").bind(sourceId, eventId).run()),
  );

describe("the session object's storage", () => {
  it('flushes only the events D1 does not hold yet', async () => {
    const source = await createSource();
    const sessionId = unique('s');
    const first = event(sessionId, 'page_view', -3, { customer_id: 'cust-6' });
    await postEvents(source.secret_key, [first, event(sessionId, 'page_view', -2)]);
    await runAlarm(source.id, sessionId);
    await tamper(source.id, first.event_id); // a row D1 holds: a flush that rewrote it would restore it

    await postEvents(source.secret_key, [event(sessionId, 'search', -1, { context: { type: 'search', query: 'mug' } })]);
    await runAlarm(source.id, sessionId);
    expect((await d1Events(source.id, sessionId)).map((e) => e.name)).toEqual(['tampered', 'page_view', 'search']);
  });

  it("writes an anonymous session without its events, then every event once a customer is linked, on the customer's shard only", async () => {
    const source = await createSource();
    const sessionId = unique('s');
    await postEvents(source.secret_key, [event(sessionId, 'page_view', -3), event(sessionId, 'page_view', -2)]);
    await postEvents(source.secret_key, [event(sessionId, 'search', -1, { context: { type: 'search', query: 'mug' } })]);
    // Open and anonymous, it is written out when it closes. Its alarm stayed at the first close
    // time (an event that only puts the close later does not move it): that run re-arms it.
    await runAlarm(source.id, sessionId);
    expect(await d1Session(source.id, sessionId)).toBeNull();
    await runAlarm(source.id, sessionId); // the close
    expect(await d1Session(source.id, sessionId)).toMatchObject({ customer_id: null, event_count: 3, status: 'closed' });
    expect(await d1Events(source.id, sessionId)).toEqual([]);

    await postEvents(source.secret_key, [event(sessionId, 'user_login', 0, { customer_id: 'cust-7' })]);
    await runAlarm(source.id, sessionId);
    const rows = await d1Events(source.id, sessionId); // fails if the session is on two shards
    expect(rows.map((e) => [e.name, e.customer_id])).toEqual([
      ['page_view', 'cust-7'],
      ['page_view', 'cust-7'],
      ['search', 'cust-7'],
      ['user_login', 'cust-7'],
    ]);
    const { db } = customerShard(env, 'cust-7');
    expect(await db.prepare('SELECT customer_id FROM sessions WHERE session_id = ?').bind(sessionId).first()).toEqual({ customer_id: 'cust-7' });
  });

  it('writes an identified session out after the answer with no alarm of its own; changes within FLUSH_DELAY_S of that write wait for the alarm', async () => {
    const source = await createSource();
    const sessionId = unique('s');
    await postEvents(source.secret_key, [event(sessionId, 'user_login', -2, { customer_id: 'cust-w' })]);
    await eventually(async () => (await d1Events(source.id, sessionId)).length === 1);
    const close = await alarmOf(source.id, sessionId);
    expect(close).toBeGreaterThan(Date.now() + 60_000); // its close, not a flush
    expect(await d1Session(source.id, sessionId)).toMatchObject({ customer_id: 'cust-w', event_count: 1, status: 'open' });
    // The state row was written with the login, before the write: D1's progress is not kept (a
    // restarted object writes D1 again what it holds, which writes no row).
    const saved = await runInDurableObject(sessionStub(source.id, sessionId), (_o, state) => JSON.parse(stateRowOf(state.storage.sql)!));
    expect(saved).toMatchObject({ flushedVersion: 0, d1: { arrival: 0 } });

    // Within FLUSH_DELAY_S (5 s here) of that write: the alarm writes it, FLUSH_DELAY_S after the last.
    await postEvents(source.secret_key, [event(sessionId, 'page_view', -1)]);
    const soon = await alarmOf(source.id, sessionId);
    expect(soon).toBeLessThanOrEqual(Date.now() + 5_000);
    expect(await d1Events(source.id, sessionId)).toHaveLength(1);
    await runAlarm(source.id, sessionId);
    expect((await d1Events(source.id, sessionId)).map((e) => e.name)).toEqual(['user_login', 'page_view']);
    // An open session's row keeps its counts as of its last other change; reads count its events.
    expect(await d1Session(source.id, sessionId)).toMatchObject({ event_count: 1, status: 'open' });
    const listed = await call(`/api/v1/customers/cust-w/sessions`, { token: source.secret_key });
    expect(((await listed.json()) as { sessions: unknown[] }).sessions).toEqual([expect.objectContaining({ session_id: sessionId, event_count: 2 })]);
    // The lake gets the session at its close (the next alarm, run as at its time): each event
    // once, as attributed then, as version 0 (its first record).
    expect(await env.LAKE.records(source.id)).toEqual([]);
    await runAlarm(source.id, sessionId);
    expect((await env.LAKE.records(source.id)).map((r) => [r.name, r.version, r.customer_id])).toEqual([
      ['user_login', 0, 'cust-w'],
      ['page_view', 0, 'cust-w'],
    ]);
  });

  it('stores each event without what its session shares, its empty fields and its id, and reads it back whole', async () => {
    const source = await createSource();
    const sessionId = unique('s');
    const sent = [event(sessionId, 'page_view', -3), event(sessionId, 'search', -2, { context: { type: 'search', query: 'mug' } })];
    await postEvents(source.secret_key, sent);
    const stub = sessionStub(source.id, sessionId);
    const { rows, before } = await runInDurableObject(stub, (instance: SessionObject, state) => ({
      rows: state.storage.sql
        .exec<{ body: string }>('SELECT body FROM events WHERE arrival > 0 ORDER BY arrival')
        .toArray()
        .map((r) => JSON.parse(r.body) as Record<string, unknown>),
      before: instance.read()!,
    }));
    expect(Object.keys(rows[1]!).sort()).toEqual(['context', 'name', 'occurred_at', 'received_at']);
    expect(before.events.map((e) => [e.event_id, e.source_id, e.session_id, e.channel, e.customer_id, e.device, e.flags])).toEqual(
      sent.map((e) => [e.event_id, source.id, sessionId, 'api', null, null, []]),
    );
    expect(before.events[1]!.context).toEqual({ type: 'search', query: 'mug' });
  });

  it('numbers arrivals from its rows, not from the state row: events stored without a state save are not taken for duplicates', async () => {
    const source = await createSource();
    const sessionId = unique('s');
    await postEvents(source.secret_key, [event(sessionId, 'page_view', -2)]);
    // As if an earlier instance had stored an event and lost its state write (then the instance goes).
    await runInDurableObject(sessionStub(source.id, sessionId), (_instance, state) => {
      state.storage.sql.exec('INSERT INTO events (event_id, body) VALUES (?, ?)', 'orphan', JSON.stringify({ event_id: 'orphan' }));
    });
    await expect(runInDurableObject(sessionStub(source.id, sessionId), (_o, state) => state.abort('evicted (injected)'))).rejects.toThrow();
    const { body } = await postEvents(source.secret_key, [event(sessionId, 'page_view', -1)]);
    expect(body.results.map((r) => r.status)).toEqual(['accepted']);
    const arrivals = await runInDurableObject(sessionStub(source.id, sessionId), (_instance, state) =>
      state.storage.sql
        .exec<{ arrival: number }>('SELECT arrival FROM events WHERE arrival > 0 ORDER BY arrival')
        .toArray()
        .map((r) => r.arrival),
    );
    expect(arrivals).toEqual([1, 2, 3]);
  });

  it('writes the state only when more than the record changed, in its first event row, and a restarted object replays the events after it', async () => {
    const source = await createSource();
    const sessionId = unique('s');
    // Opens the session: its first event's row keeps the state it starts from.
    await postEvents(source.secret_key, [event(sessionId, 'page_view', -3)]);
    await postEvents(source.secret_key, [event(sessionId, 'page_view', -2)]); // only adds to the record: not written again
    await postEvents(source.secret_key, [
      event(sessionId, 'search', -1, { context: { type: 'search', query: 'mug' }, page: { url: 'https://shop.example/s?utm_source=x' } }),
    ]);
    type Kept = { arrival: number; session_state: string };
    const restart = (stub: ReturnType<typeof sessionStub>) =>
      runInDurableObject(stub, async (instance: SessionObject, state) => {
        const sql = state.storage.sql;
        const kept = sql.exec<Kept>('SELECT arrival, session_state FROM events WHERE session_state IS NOT NULL OR arrival = 0').toArray();
        const fresh = new SessionObject(state, env);
        await state.blockConcurrencyWhile(async () => {}); // the constructor's load has run
        return { kept, live: instance.read(), restarted: fresh.read() };
      });
    const counted = (k: Kept[]) => k.map((r) => [r.arrival, (JSON.parse(r.session_state) as { record: SessionRecord }).record.event_count]);
    const first = await restart(sessionStub(source.id, sessionId));
    expect(counted(first.kept)).toEqual([[1, 0]]); // no row 0: the state as the session started, in its first event's row
    expect(first.live!.session.event_count).toBe(3);
    expect(first.restarted).toEqual(first.live);

    // A customer linked is more than its events replay: the state is written (in the same row), and the events after it replay onto it.
    await postEvents(source.secret_key, [event(sessionId, 'user_login', 0, { customer_id: 'cust-r' })]);
    await postEvents(source.secret_key, [event(sessionId, 'page_view', 0)]);
    const second = await restart(sessionStub(source.id, sessionId));
    expect(counted(second.kept)).toEqual([[1, 4]]);
    expect(second.live!.session).toMatchObject({ event_count: 5, customer_id: 'cust-r' });
    expect(second.restarted).toEqual(second.live);
  });

  it('keeps the state in row 0 once the first event, which held it, is erased', async () => {
    const shop = await createSource({ kind: 'website', allowed_origins: [SHOP], require_verified_identity: false });
    const sessionId = unique('s');
    const customer = unique('cust');
    const at = Date.now();
    // A claim (no customer_hash) opens the session: its row holds the state.
    await beacon(shop.public_key, [
      { i: crypto.randomUUID(), s: sessionId, n: 'user_login', t: at - 2_000, q: 1, u: `${SHOP}/`, cu: customer },
      { i: crypto.randomUUID(), s: sessionId, n: 'page_view', t: at - 1_000, q: 2, u: `${SHOP}/p` },
    ]);
    const after = await runInDurableObject(sessionStub(shop.id, sessionId), async (instance: SessionObject, state) => {
      const erased = await instance.eraseEventsOf(customer);
      const fresh = new SessionObject(state, env);
      await state.blockConcurrencyWhile(async () => {});
      const rows = state.storage.sql.exec<{ arrival: number }>('SELECT arrival FROM events ORDER BY arrival').toArray();
      return { erased, rows: rows.map((r) => r.arrival), live: instance.read(), restarted: fresh.read() };
    });
    expect(after.erased).toBe(1);
    expect(after.rows).toEqual([0, 2]); // the state in row 0, the page view
    expect(after.live!.session.event_count).toBe(1);
    expect(after.restarted).toEqual(after.live);
  });

  it('a new object makes its storage with its first event, and one that forgot holds nothing', async () => {
    const source = await createSource();
    const sessionId = unique('s');
    const stub = sessionStub(source.id, sessionId);
    // Made (a read), with nothing stored: no table, no page beyond SQLite's own.
    const empty = await runInDurableObject(stub, (_o, state) => state.storage.sql.exec("SELECT name FROM sqlite_master WHERE name NOT LIKE '_cf_%'").toArray());
    expect(empty).toEqual([]);
    await postEvents(source.secret_key, [event(sessionId, 'page_view', 0)]);
    const made = await runInDurableObject(stub, (_o, state) =>
      state.storage.sql.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '_cf_%' ORDER BY name").toArray(),
    );
    expect(made).toEqual([{ name: 'events' }]); // the state is its row 0
  });
});
