import { describe, expect, it } from 'vitest';
import { call, createSource, event, postEvents, unique } from './fixtures/api';
import { runAlarm } from './fixtures/sessions';

interface Page {
  events: { event_id: string; name: string; customer_id: string | null }[];
  next_cursor: string | null;
}

describe('partner reads', () => {
  it('GET /api/v1/web-events filters and pages through every event once', async () => {
    const source = await createSource();
    const sessionId = unique('s');
    const events = Array.from({ length: 7 }, (_, i) =>
      event(sessionId, i % 2 ? 'page_view' : 'search', i - 10, { context: i % 2 ? undefined : { type: 'search', query: `q${i}` } }),
    );
    await postEvents(source.secret_key, events);
    await runAlarm(source.id, sessionId);

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await call(`/api/v1/web-events?session_id=${sessionId}&limit=3${cursor ? `&cursor=${cursor}` : ''}`, { token: source.secret_key });
      const page = (await res.json()) as Page;
      seen.push(...page.events.map((e) => e.event_id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toEqual(events.map((e) => e.event_id));

    const searches = (await (await call(`/api/v1/web-events?session_id=${sessionId}&name=search`, { token: source.secret_key })).json()) as Page;
    expect(searches.events.map((e) => e.name)).toEqual(['search', 'search', 'search', 'search']);
    const from = events[5]!.occurred_at;
    const late = (await (
      await call(`/api/v1/web-events?session_id=${sessionId}&from=${encodeURIComponent(from)}`, { token: source.secret_key })
    ).json()) as Page;
    expect(late.events.map((e) => e.event_id)).toEqual([events[5]!.event_id, events[6]!.event_id]);
  });

  it("GET /api/v1/customers/{id}/sessions lists a customer's sessions, most recent first", async () => {
    const source = await createSource();
    const customer = unique('cust');
    const first = unique('s');
    const second = unique('s');
    await postEvents(source.secret_key, [event(first, 'user_login', -30, { customer_id: customer })]);
    await postEvents(source.secret_key, [event(second, 'page_view', -5), event(second, 'user_login', -4, { customer_id: customer })]);
    await postEvents(source.secret_key, [event(unique('s'), 'page_view', -3)]);
    for (const s of [first, second]) await runAlarm(source.id, s);

    const res = await call(`/api/v1/customers/${customer}/sessions`, { token: source.secret_key });
    const body = (await res.json()) as { sessions: { session_id: string; customer_id: string; event_count: number }[] };
    expect(body.sessions.map((s) => [s.session_id, s.event_count])).toEqual([
      [second, 2],
      [first, 1],
    ]);
    const customerEvents = (await (await call(`/api/v1/web-events?customer_id=${customer}`, { token: source.secret_key })).json()) as Page;
    expect(customerEvents.events).toHaveLength(3);
  });
});
