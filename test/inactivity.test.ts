import { describe, expect, it } from 'vitest';
import { createSource, event, postEvents, unique } from './fixtures/api';
import { d1Session, readSession, runAlarm } from './fixtures/sessions';

describe('inactivity', () => {
  it('closes the session at last_event_at + timeout, then an API event with the same session_id re-opens it', async () => {
    const source = await createSource({ session_timeout_s: 1800 });
    const sessionId = unique('s');
    const last = event(sessionId, 'product_view', -10, { context: { type: 'product', id: 'p1' } });
    await postEvents(source.secret_key, [event(sessionId, 'page_view', -20), last]);

    // Open and anonymous: it is written out when it closes (docs/cost.md).
    expect(await d1Session(source.id, sessionId)).toBeNull();

    await runAlarm(source.id, sessionId); // the inactivity close, written out at once
    const closedAt = new Date(Date.parse(last.occurred_at) + 1800_000).toISOString();
    expect(await d1Session(source.id, sessionId)).toMatchObject({ status: 'closed', event_count: 2, closed_at: closedAt });

    const { body } = await postEvents(source.secret_key, [event(sessionId, 'page_view', 0)]);
    expect(body.results[0]!.status).toBe('accepted');
    const live = await readSession(source.id, sessionId, source.secret_key);
    expect(live.body.session).toMatchObject({ status: 'open', closed_at: null, event_count: 3 });
    expect(live.body.events.at(-1)!.flags).toEqual([]);

    await runAlarm(source.id, sessionId); // its next close
    expect(await d1Session(source.id, sessionId)).toMatchObject({ status: 'closed', event_count: 3 });
  });
});
