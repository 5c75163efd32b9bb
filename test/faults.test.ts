import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import type { SessionRecord } from '../src/events/session-record';
import { createSource, customerEvent, event, postEvents, unique } from './fixtures/api';
import {
  ageSession,
  alarmOf,
  d1Events,
  d1Session,
  eventually,
  failD1For,
  heldEvents,
  readSession,
  runAlarm,
  sessionStub,
  stateRowOf,
} from './fixtures/sessions';

describe('nothing accepted is lost', () => {
  it('a session object evicted between the acknowledgement and the flush: a new instance replays its events and writes them all', async () => {
    const source = await createSource();
    const sessionId = unique('s');
    await postEvents(source.secret_key, [customerEvent(sessionId, 'page_view', -3)]);
    // These two only add to the record: the state row is not rewritten for them (they are replayed).
    await postEvents(source.secret_key, [event(sessionId, 'page_view', -2), event(sessionId, 'search', -1, { context: { type: 'search', query: 'mug' } })]);
    await expect(runInDurableObject(sessionStub(source.id, sessionId), (_o, state) => state.abort('evicted (injected)'))).rejects.toThrow();

    await runAlarm(source.id, sessionId);
    expect((await d1Events(source.id, sessionId)).map((e) => e.name)).toEqual(['page_view', 'page_view', 'search']);
    expect((await readSession(source.id, sessionId, source.secret_key)).body.session.event_count).toBe(3);
  });

  it('a new session evicted before any state row: its first event kept the state it starts from, and the alarm closes and writes it', async () => {
    const source = await createSource();
    const sessionId = unique('s');
    await postEvents(source.secret_key, [event(sessionId, 'page_view', -2), event(sessionId, 'search', -1, { context: { type: 'search', query: 'mug' } })]);
    const stored = () =>
      runInDurableObject(sessionStub(source.id, sessionId), (_o, state) => JSON.parse(stateRowOf(state.storage.sql)!) as { record: SessionRecord });
    expect((await stored()).record).toMatchObject({ event_count: 0, status: 'open' }); // as it started: not written again
    expect(await alarmOf(source.id, sessionId)).not.toBeNull();
    await expect(runInDurableObject(sessionStub(source.id, sessionId), (_o, state) => state.abort('evicted (injected)'))).rejects.toThrow();

    await runAlarm(source.id, sessionId);
    expect(await d1Session(source.id, sessionId)).toMatchObject({ status: 'closed', event_count: 2 });
    expect((await env.LAKE.records(source.id)).map((r) => r.name)).toEqual(['page_view', 'search']);
    expect((await stored()).record).toMatchObject({ event_count: 2, status: 'closed' }); // the close is saved
  });

  it('D1 failing for longer than the retention: the session is not deleted until D1 holds it, then it is', async () => {
    const source = await createSource();
    const sessionId = unique('s');
    const restore = await failD1For(sessionId);
    await postEvents(source.secret_key, [event(sessionId, 'page_view', -2), event(sessionId, 'page_view', -1)]);
    // 61 days pass while D1 refuses every write.
    await ageSession(source.id, sessionId);
    for (let i = 0; i < 3; i++) await runAlarm(source.id, sessionId);
    expect(await heldEvents(source.id, sessionId)).toBe(2);
    expect(await d1Session(source.id, sessionId)).toBeNull();

    await restore();
    await runAlarm(source.id, sessionId); // the write goes through
    expect(await d1Session(source.id, sessionId)).toMatchObject({ event_count: 2 });
    // Now, and only now, retention deletes the object's copy (due at once: this run of the alarm, or its own).
    await runAlarm(source.id, sessionId);
    await eventually(async () => (await heldEvents(source.id, sessionId)) === 0);
  });
});
