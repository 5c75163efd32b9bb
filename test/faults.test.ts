import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import type { SessionObject } from '../src/sessions/session-object';
import type { SessionState } from '../src/sessions/state';
import { createSource, event, postEvents, unique } from './fixtures/api';
import { d1Events, readSession, runAlarm, sessionStub } from './fixtures/sessions';

/** A real D1 failure for one session's writes: a trigger that aborts them. Returns its removal. */
async function failD1For(sessionId: string) {
  const name = `fail_${sessionId.replace(/\W/g, '_')}`;
  await env.DB.exec(
    `CREATE TRIGGER ${name} BEFORE INSERT ON sessions WHEN NEW.session_id = '${sessionId}' BEGIN SELECT RAISE(ABORT, 'injected D1 failure'); END`,
  );
  return () => env.DB.exec(`DROP TRIGGER ${name}`);
}

const heldEvents = (sourceId: string, sessionId: string) =>
  runInDurableObject(sessionStub(sourceId, sessionId), (_o, state) => state.storage.sql.exec<{ n: number }>('SELECT count(*) AS n FROM events').one().n);

describe('nothing accepted is lost', () => {
  it('a session object evicted between the acknowledgement and the flush: a new instance replays its events and writes them all', async () => {
    const source = await createSource();
    const sessionId = unique('s');
    await postEvents(source.secret_key, [event(sessionId, 'page_view', -3)]);
    // These two only add to the record: the state row is not rewritten for them (they are replayed).
    await postEvents(source.secret_key, [event(sessionId, 'page_view', -2), event(sessionId, 'search', -1, { context: { type: 'search', query: 'mug' } })]);
    await expect(runInDurableObject(sessionStub(source.id, sessionId), (_o, state) => state.abort('evicted (injected)'))).rejects.toThrow();

    await runAlarm(source.id, sessionId);
    expect((await d1Events(source.id, sessionId)).map((e) => e.name)).toEqual(['page_view', 'page_view', 'search']);
    expect((await readSession(source.id, sessionId, source.secret_key)).body.session.event_count).toBe(3);
  });

  it('D1 failing for longer than the retention: the session is not deleted until D1 holds it, then it is', async () => {
    const source = await createSource();
    const sessionId = unique('s');
    const restore = await failD1For(sessionId);
    await postEvents(source.secret_key, [event(sessionId, 'page_view', -2), event(sessionId, 'page_view', -1)]);
    // 61 days pass while D1 refuses every write.
    await runInDurableObject(sessionStub(source.id, sessionId), (instance: SessionObject) => {
      const { state } = instance as unknown as { state: SessionState };
      const past = new Date(Date.now() - 61 * 86_400_000).toISOString();
      state.record.last_event_at = state.record.started_at = state.record.last_received_at = past;
    });
    for (let i = 0; i < 3; i++) await runAlarm(source.id, sessionId);
    expect(await heldEvents(source.id, sessionId)).toBe(2);
    expect(await d1Events(source.id, sessionId)).toEqual([]);

    await restore();
    await runAlarm(source.id, sessionId); // the write goes through
    expect(await d1Events(source.id, sessionId)).toHaveLength(2);
    await runAlarm(source.id, sessionId); // now, and only now, retention deletes the object's copy
    expect(await heldEvents(source.id, sessionId)).toBe(0);
  });
});
