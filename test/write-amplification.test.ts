import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { normalizeEvent } from '../src/events/normalize';
import { addToRecord, openSession } from '../src/sessions/record';
import { customerSessions, sharedOf, writeSession } from '../src/storage/records';
import { unique } from './fixtures/api';

/** A 10-event identified session as the object hands it to D1 (its record with the first `recorded` events). */
function session(recorded = 10) {
  const sourceId = unique('src');
  const sessionId = unique('s');
  const events = Array.from({ length: 10 }, (_, i) => {
    const n = normalizeEvent(
      {
        session_id: sessionId,
        name: i % 2 ? 'page_view' : 'search',
        occurred_at: new Date(Date.now() - (10 - i) * 60_000).toISOString(),
        customer_id: 'c-1',
        context: i % 2 ? undefined : { type: 'search', query: `q${i}` },
      },
      { sourceId, channel: 'api', receivedAt: Date.now() },
    );
    if (!n.ok) throw new Error(n.error.message);
    return n.event;
  });
  const record = openSession(events[0]!);
  for (const e of events.slice(0, recorded)) addToRecord(record, e);
  record.customer_id = 'c-1';
  return { record, events, rows: events.map((e, i) => ({ ...e, arrival: i + 1 })), shared: sharedOf(events[0]!) };
}

describe('D1 rows written (the billed unit, as D1 reports it)', () => {
  it('a flush of events D1 already holds as they are writes no rows; a changed one writes its own', async () => {
    const { record, rows, shared } = session();
    const first = await writeSession(env.DB, record, rows, { incarnation: 1, shared });
    expect(first.events).toBeGreaterThanOrEqual(rows.length);
    expect(await writeSession(env.DB, record, rows, { incarnation: 1, shared })).toEqual({ sessions: 0, events: 0 });
    const flagged = rows.map((r, i) => (i === 3 ? { ...r, flags: ['late' as const] } : r));
    const again = await writeSession(env.DB, record, flagged, { incarnation: 1, shared });
    expect(again.events).toBeGreaterThan(0);
    expect(again.events).toBeLessThan(first.events / 5);
  });

  it('a 10-event session with a login in the middle, written as its object writes it, costs at most 3.5 D1 rows per event', async () => {
    // The object writes nothing of an anonymous session before it closes; the login's flush
    // writes the session and its five events so far, then each later event is its own flush (the
    // cost bench's pattern: events 30 s apart, FLUSH_DELAY_S 5), then the close.
    const { record, events, rows, shared } = session(5);
    const w = { incarnation: 1, shared };
    const login = await writeSession(env.DB, record, rows.slice(0, 5), w);
    // Each event: its row and two index entries (by source and time, by name and time), no more.
    expect(login.events).toBe(5 * 3);
    const flushes = [];
    for (let i = 5; i < 10; i++) {
      addToRecord(record, events[i]!);
      flushes.push(await writeSession(env.DB, record, rows.slice(i, i + 1), w));
    }
    // A flush of an open session that only adds events writes their rows: the session's counts
    // and times wait for its next other change (here its close), and reads take them from its events.
    expect(flushes).toEqual(Array.from({ length: 5 }, () => ({ sessions: 0, events: 3 })));
    const listed = async () => (await customerSessions(env, record.source_id, 'c-1', 10)).sessions;
    const last = events[9]!;
    const live = { event_count: 10, last_event_at: last.occurred_at, last_received_at: last.received_at };
    expect(await listed()).toEqual([expect.objectContaining({ status: 'open', ...live })]);
    const stored = await env.DB.prepare('SELECT event_count FROM sessions WHERE session_id = ?').bind(record.session_id).first();
    expect(stored).toEqual({ event_count: 5 });

    record.status = 'closed';
    record.closed_at = new Date().toISOString();
    const close = await writeSession(env.DB, record, [], w);
    expect(close).toEqual({ sessions: 1, events: 0 });
    expect(await listed()).toEqual([expect.objectContaining({ status: 'closed', ...live })]);
    const total = [login, ...flushes, close].reduce((n, r) => n + r.sessions + r.events, 0);
    expect(total / rows.length).toBeLessThanOrEqual(3.5);
  });
});
