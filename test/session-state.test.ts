import { describe, expect, it } from 'vitest';
import type { WebEvent } from '../src/events/schema';
import { openSession } from '../src/sessions/record';
import { nextAlarm, OUTBOX_RETRY_MS, type SessionState, settled } from '../src/sessions/state';

const NOW = Date.parse('2026-11-29T10:00:00Z');
const DAY = 86_400_000;
const retention = { anonymousDays: 60, identifiedDays: null };
const NONE = { outbox: false, lake: false };
const first: WebEvent = {
  event_id: 'e1',
  source_id: 'shop',
  channel: 'api',
  session_id: 's',
  customer_id: null,
  claimed_customer_id: null,
  name: 'page_view',
  occurred_at: new Date(NOW - 10 * 60_000).toISOString(),
  received_at: new Date(NOW).toISOString(),
  seq: null,
  context: null,
  params: null,
  page: null,
  device: null,
  geo: null,
  flags: [],
};

function state(changes: Partial<SessionState> = {}, record: Partial<SessionState['record']> = {}): SessionState {
  return {
    record: { ...openSession(first), event_count: 1, ...record },
    incarnation: NOW,
    timeoutS: 3600,
    version: 1,
    appliedArrival: 1,
    flushedVersion: 0,
    rewrites: 0,
    d1: { arrival: 0, attempts: 0, at: NOW + 5000 },
    lake: { arrival: 1, attempts: 0, at: null },
    lakeSeen: 1,
    shared: { device: null, geo: null },
    alarmAt: null,
    ...changes,
  };
}

describe("the session object's next alarm, a pure function of its state", () => {
  it('an open session with a write pending: the write, before the inactivity close', () => {
    expect(nextAlarm(state(), retention, NOW, NONE)).toBe(NOW + 5000);
    expect(nextAlarm(state({ d1: { arrival: 0, attempts: 0, at: NOW + 2 * 3600_000 } }), retention, NOW, NONE)).toBe(NOW - 10 * 60_000 + 3600_000); // the close comes first
  });

  it('a closed anonymous session that D1 holds: the retention delete, 60 days after the later of its last event and its last arrival', () => {
    const closed = state(
      { version: 3, flushedVersion: 3, d1: { arrival: 1, attempts: 0, at: null } },
      { status: 'closed', last_event_at: new Date(NOW - 90 * DAY).toISOString() },
    );
    expect(settled(closed, NONE)).toBe(true);
    expect(nextAlarm(closed, retention, NOW, NONE)).toBe(NOW + 60 * DAY); // counted from the arrival (now), not the 90-day-old date
  });

  it('nothing is deleted while D1 lacks a change or a fired trigger waits: no retention alarm then', () => {
    const behind = state({ version: 4, flushedVersion: 3, d1: { arrival: 1, attempts: 0, at: NOW + 60_000 } }, { status: 'closed' });
    expect(settled(behind, NONE)).toBe(false);
    expect(nextAlarm(behind, retention, NOW, NONE)).toBe(NOW + 60_000);
    const waiting = state({ version: 3, flushedVersion: 3, d1: { arrival: 1, attempts: 0, at: null } }, { status: 'closed' });
    expect(settled(waiting, { outbox: true, lake: false })).toBe(false);
    expect(nextAlarm(waiting, retention, NOW, { outbox: true, lake: false })).toBe(NOW + OUTBOX_RETRY_MS);
  });

  it('with a lake, the object waits for it too: its send is due, and no retention delete while it lacks an event', () => {
    const unsent = state(
      { version: 3, flushedVersion: 3, d1: { arrival: 1, attempts: 0, at: null }, lake: { arrival: 0, attempts: 0, at: NOW + 7000 } },
      { status: 'closed' },
    );
    const lake = { outbox: false, lake: true };
    expect(settled(unsent, lake)).toBe(false);
    expect(nextAlarm(unsent, retention, NOW, lake)).toBe(NOW + 7000);
  });

  it("an identified session's object goes when an anonymous one's would (D1 keeps the session), or at an earlier identified retention; a waiting absence trigger is due", () => {
    const identified = state({ version: 3, flushedVersion: 3, d1: { arrival: 1, attempts: 0, at: null } }, { status: 'closed', customer_id: 'c' });
    expect(nextAlarm(identified, retention, NOW, NONE)).toBe(NOW + 60 * DAY);
    expect(nextAlarm(identified, { anonymousDays: 60, identifiedDays: 365 }, NOW, NONE)).toBe(NOW + 60 * DAY);
    expect(nextAlarm(identified, { anonymousDays: 60, identifiedDays: 30 }, NOW, NONE)).toBe(NOW + 30 * DAY);
    const watching = { ...identified, triggers: { rules: [], fired: [], watches: { r: { due: NOW + 20 * 60_000, anchorId: 'e1' } } } };
    expect(nextAlarm(watching, retention, NOW, NONE)).toBe(NOW + 20 * 60_000);
  });

  it('what the lake lacks with no time set (a closed session from before the sessions stream was bound) is due now, not never', () => {
    const closed = state({ version: 3, flushedVersion: 3, d1: { arrival: 1, attempts: 0, at: null } }, { status: 'closed' });
    const lacking = { ...NONE, lake: true };
    expect(settled(closed, lacking)).toBe(false);
    expect(nextAlarm(closed, retention, NOW, lacking)).toBe(NOW);
    expect(nextAlarm({ ...closed, lake: { arrival: 1, attempts: 2, at: NOW + 4000 } }, retention, NOW, lacking)).toBe(NOW + 4000);
  });
});
