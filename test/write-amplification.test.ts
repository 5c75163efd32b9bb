import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { normalizeEvent } from '../src/events/normalize';
import { addToRecord, openSession } from '../src/sessions/record';
import { sharedOf, writeSession } from '../src/storage/records';
import { unique } from './fixtures/api';

/** A 10-event identified session as the object hands it to D1. */
function session() {
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
  for (const e of events) addToRecord(record, e);
  record.customer_id = 'c-1';
  return { record, rows: events.map((e, i) => ({ ...e, arrival: i + 1 })), shared: sharedOf(events[0]!) };
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
});
