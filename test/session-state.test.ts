import { describe, expect, it } from 'vitest';
import type { WebEvent } from '../src/events/schema';
import { EMPTY, type Life, nextAlarm, OUTBOX_RETRY_MS, type Setup, settled } from '../src/sessions/lifecycle';
import { openSession } from '../src/sessions/record';
import type { SessionState } from '../src/sessions/state';

const NOW = Date.parse('2026-11-29T10:00:00Z');
const DAY = 86_400_000;
const retention = { anonymousDays: 60, identifiedDays: null };
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
    ...changes,
  };
}

/** A deployment with or without a lake (its events' and sessions' streams both). */
const setup = (lake = false, r: Setup['retention'] = retention): Setup => ({ retention: r, flushDelayMs: 5000, lake, lakeSessions: lake, shardOf: () => 'DB' });
/** The object's memory with this state, and fired triggers waiting or not. */
const life = (s: SessionState, outbox = 0): Life => ({ ...EMPTY, state: s, outbox });

describe("the session object's next alarm, a pure function of its state", () => {
  it('an open session with a write pending: the write, before the inactivity close', () => {
    expect(nextAlarm(life(state()), NOW, setup())).toBe(NOW + 5000);
    expect(nextAlarm(life(state({ d1: { arrival: 0, attempts: 0, at: NOW + 2 * 3600_000 } })), NOW, setup())).toBe(NOW - 10 * 60_000 + 3600_000); // the close comes first
  });

  it('a closed anonymous session that D1 holds: the retention delete, 60 days after the later of its last event and its last arrival', () => {
    const closed = state(
      { version: 3, flushedVersion: 3, d1: { arrival: 1, attempts: 0, at: null } },
      { status: 'closed', last_event_at: new Date(NOW - 90 * DAY).toISOString() },
    );
    expect(settled(life(closed), setup())).toBe(true);
    expect(nextAlarm(life(closed), NOW, setup())).toBe(NOW + 60 * DAY); // counted from the arrival (now), not the 90-day-old date
  });

  it('nothing is deleted while D1 lacks a change or a fired trigger waits: no retention alarm then', () => {
    const behind = state({ version: 4, flushedVersion: 3, d1: { arrival: 1, attempts: 0, at: NOW + 60_000 } }, { status: 'closed' });
    expect(settled(life(behind), setup())).toBe(false);
    expect(nextAlarm(life(behind), NOW, setup())).toBe(NOW + 60_000);
    const waiting = state({ version: 3, flushedVersion: 3, d1: { arrival: 1, attempts: 0, at: null } }, { status: 'closed' });
    expect(settled(life(waiting, 1), setup())).toBe(false);
    expect(nextAlarm(life(waiting, 1), NOW, setup())).toBe(NOW + OUTBOX_RETRY_MS);
  });

  it('with a lake, the object waits for it too: its send is due, and no retention delete while it lacks an event', () => {
    const unsent = state(
      { version: 3, flushedVersion: 3, d1: { arrival: 1, attempts: 0, at: null }, lake: { arrival: 0, attempts: 0, at: NOW + 7000 } },
      { status: 'closed' },
    );
    expect(settled(life(unsent), setup(true))).toBe(false);
    expect(nextAlarm(life(unsent), NOW, setup(true))).toBe(NOW + 7000);
  });

  it("an identified session's object goes when an anonymous one's would (D1 keeps the session), or at an earlier identified retention; a waiting absence trigger is due", () => {
    const identified = state({ version: 3, flushedVersion: 3, d1: { arrival: 1, attempts: 0, at: null } }, { status: 'closed', customer_id: 'c' });
    expect(nextAlarm(life(identified), NOW, setup())).toBe(NOW + 60 * DAY);
    expect(nextAlarm(life(identified), NOW, setup(false, { anonymousDays: 60, identifiedDays: 365 }))).toBe(NOW + 60 * DAY);
    expect(nextAlarm(life(identified), NOW, setup(false, { anonymousDays: 60, identifiedDays: 30 }))).toBe(NOW + 30 * DAY);
    const watching = { ...identified, triggers: { rules: [], fired: [], watches: { r: { due: NOW + 20 * 60_000, anchorId: 'e1' } } } };
    expect(nextAlarm(life(watching), NOW, setup())).toBe(NOW + 20 * 60_000);
  });

  it('what the lake lacks with no time set (a closed session from before the sessions stream was bound) is due now, not never', () => {
    const closed = state({ version: 3, flushedVersion: 3, d1: { arrival: 1, attempts: 0, at: null } }, { status: 'closed' });
    expect(settled(life(closed), setup(true))).toBe(false);
    expect(nextAlarm(life(closed), NOW, setup(true))).toBe(NOW);
    expect(nextAlarm(life({ ...closed, lake: { arrival: 1, attempts: 2, at: NOW + 4000 } }), NOW, setup(true))).toBe(NOW + 4000);
  });
});
