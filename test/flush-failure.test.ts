import { describe, expect, it } from 'vitest';
import { createSource, customerEvent, postEvents, unique } from './fixtures/api';
import { d1Events, d1Session, failD1For, readSession, runAlarm } from './fixtures/sessions';

describe('D1 failure during a flush', () => {
  it('loses nothing: the next alarm writes every event exactly once', async () => {
    const source = await createSource();
    const sessionId = unique('s');
    // A real D1 failure, scoped to this session: a trigger that aborts its event inserts.
    const restore = await failD1For(sessionId, 'web_events');
    try {
      const events = [customerEvent(sessionId, 'page_view', -3), customerEvent(sessionId, 'page_view', -2)];
      await postEvents(source.secret_key, events);
      await runAlarm(source.id, sessionId);
      expect(await d1Events(source.id, sessionId)).toHaveLength(0);
      // The batch is one transaction: no session row without its events.
      expect(await d1Session(source.id, sessionId)).toBeNull();

      // More events arrive while D1 is down; they wait with the others.
      await postEvents(source.secret_key, [customerEvent(sessionId, 'page_view', -1)]);
      await runAlarm(source.id, sessionId);
      expect(await d1Events(source.id, sessionId)).toHaveLength(0);
    } finally {
      await restore();
    }

    await runAlarm(source.id, sessionId);
    expect(await d1Events(source.id, sessionId)).toHaveLength(3);
    await runAlarm(source.id, sessionId); // close, rewrite: still exactly once
    expect(await d1Events(source.id, sessionId)).toHaveLength(3);
    expect((await readSession(source.id, sessionId, source.secret_key)).body.session.status).toBe('closed');
  });
});
