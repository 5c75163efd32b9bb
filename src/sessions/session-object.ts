import { DurableObject } from 'cloudflare:workers';
import { tunables } from '../config';
import type { WebEvent } from '../events/schema';
import { writeSession } from '../storage/records';
import type { ActiveRule } from '../triggers/rules';
import { fireDue, newTriggerState, nextWatch, onClose, onEvent, type TriggerState } from '../triggers/session-triggers';
import {
  addToRecord, attribute, closesAt, deanonymizedBy, expiresAt, flushBackoffMs, openSession,
  type DeanonymizedBy, type SessionRecord,
} from './record';

export type IngestStatus = 'accepted' | 'duplicate';
export interface SessionView {
  session: SessionRecord;
  events: WebEvent[];
}

/** What the object keeps beside its events; one row, rewritten on every change. */
interface State {
  record: SessionRecord;
  timeoutS: number;
  /** Bumped by every change; rows carry the value of their last change. */
  counter: number;
  /** The counter value D1 holds everything up to. */
  flushed: number;
  flushAttempts: number;
  /** When the next D1 write is due (ms), null when nothing waits. */
  flushAt: number | null;
  arrivals: number;
  /** When the alarm is armed for: an alarm run early (a test's) acts as at that time. */
  alarmAt: number | null;
  /** Campaign triggers of this session (absent in rows written before triggers existed). */
  triggers?: TriggerState;
}

const SCHEMA_VERSION = 1;
const SCHEMA = `
  CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS state (id INTEGER PRIMARY KEY CHECK (id = 1), body TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS events (
    event_id TEXT PRIMARY KEY,
    occurred_at TEXT NOT NULL,
    seq INTEGER,
    arrival INTEGER NOT NULL,
    changed INTEGER NOT NULL,
    body TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS events_in_order ON events (occurred_at, seq, arrival);
  CREATE INDEX IF NOT EXISTS events_by_change ON events (changed);
`;
const SESSION_ORDER = 'ORDER BY occurred_at, seq NULLS LAST, arrival';
const INSERT_EVENT = 'INSERT INTO events (event_id, occurred_at, seq, arrival, changed, body) VALUES (?, ?, ?, ?, ?, ?)';
const INSERT_EVENTS = `INSERT INTO events (event_id, occurred_at, seq, arrival, changed, body)
  SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5 FROM json_each(?)`;

/** A row of the events table, in INSERT_EVENT's column order. */
type EventRow = [eventId: string, occurredAt: string, seq: number | null, arrival: number, changed: number, body: string];

/**
 * One session (`<source_id>:<session_id>`): every event of it passes through here, so ordering,
 * inactivity and de-anonymization are never raced. Events are stored before the call returns;
 * one alarm, re-armed to the earliest due task, writes D1, closes the session and expires it.
 */
export class SessionObject extends DurableObject<Env> {
  private readonly sql = this.ctx.storage.sql;
  private readonly settings = tunables(this.env);
  private state: State | null = null;
  /** The alarm time this instance last set (undefined: unknown, so the next save sets it). */
  private armed: number | null | undefined = undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    void ctx.blockConcurrencyWhile(async () => {
      this.migrate();
      const row = this.sql.exec<{ body: string }>('SELECT body FROM state WHERE id = 1').toArray()[0];
      this.state = row ? (JSON.parse(row.body) as State) : null;
    });
  }

  /** Stores a batch of this session's events (already normalized), one status per event. */
  async ingest(events: WebEvent[], timeoutS: number, rules: ActiveRule[] = []): Promise<IngestStatus[]> {
    const now = Date.now();
    if (this.state && now >= expiresAt(this.state.record, this.settings.retentionDays)) await this.purge();
    const statuses: IngestStatus[] = [];
    const known = this.knownEventIds(events);
    const rows: EventRow[] = [];
    for (const event of events) {
      if (known.has(event.event_id)) {
        statuses.push('duplicate');
        continue;
      }
      known.add(event.event_id); // a repeat later in the same batch is a duplicate too
      this.state ??= { record: openSession(event), timeoutS, counter: 0, flushed: 0, flushAttempts: 0, flushAt: null, arrivals: 0, alarmAt: null };
      rows.push(this.place(this.state, event, now));
      if (rules.length || this.state.triggers?.rules.length) {
        const triggers = (this.state.triggers ??= newTriggerState());
        triggers.rules = rules;
        onEvent(triggers, event, this.state.record, now);
      }
      statuses.push('accepted');
    }
    this.insertEvents(rows);
    if (this.state && rows.length) {
      await this.sendTriggers(this.state);
      this.state.timeoutS = timeoutS;
      this.scheduleFlush(this.state, now);
      await this.save();
    }
    return statuses;
  }

  /** The ids of a batch already stored here: one query for the whole batch (json_each costs more for one). */
  private knownEventIds(events: readonly WebEvent[]): Set<string> {
    const rows =
      events.length === 1
        ? this.sql.exec<{ event_id: string }>('SELECT event_id FROM events WHERE event_id = ?', events[0]!.event_id)
        : this.sql.exec<{ event_id: string }>('SELECT event_id FROM events WHERE event_id IN (SELECT value FROM json_each(?))', JSON.stringify(events.map((e) => e.event_id)));
    return new Set(rows.toArray().map((r) => r.event_id));
  }

  /** Links the session to a customer from outside its events (a campaign link, rule 6). */
  async linkCustomer(customerId: string, by: DeanonymizedBy): Promise<SessionRecord | null> {
    const state = this.state;
    if (!state) return null;
    this.identify(state, customerId, by, Date.now());
    this.scheduleFlush(state, Date.now());
    await this.save();
    return state.record;
  }

  /** The session with its events in session order, attributed as D1 will have them. */
  read(): SessionView | null {
    const state = this.state;
    if (!state || Date.now() >= expiresAt(state.record, this.settings.retentionDays)) return null;
    const rows = this.sql.exec<{ body: string }>(`SELECT body FROM events ${SESSION_ORDER}`).toArray();
    return { session: state.record, events: rows.map((r) => attribute(JSON.parse(r.body) as WebEvent, state.record)) };
  }

  override async alarm(): Promise<void> {
    this.armed = undefined; // a running alarm is no longer armed
    const state = this.state;
    if (!state) return;
    const now = Math.max(Date.now(), state.alarmAt ?? 0);
    if (now >= expiresAt(state.record, this.settings.retentionDays)) return this.purge();
    const closeAt = closesAt(state.record, state.timeoutS);
    if (state.record.status === 'open' && now >= closeAt) {
      state.record.status = 'closed';
      state.record.closed_at = new Date(closeAt).toISOString();
      state.counter += 1;
      state.flushAt = state.flushAttempts ? state.flushAt : now;
      if (state.triggers) onClose(state.triggers, state.record, now, (name) => this.has(name));
    }
    if (state.triggers) {
      fireDue(state.triggers, state.record, now);
      await this.sendTriggers(state);
    }
    if (state.counter > state.flushed && state.flushAt !== null && now >= state.flushAt) await this.flush(state, now);
    await this.save();
  }

  /** Applies one new event to the session; returns its row, which `insertEvents` stores. */
  private place(state: State, event: WebEvent, now: number): EventRow {
    const record = state.record;
    const flags = [...event.flags];
    if (record.status === 'closed') {
      // Rule 4: a tracker retry lands late in the closed session; the partner's channels re-open it.
      if (event.channel === 'tracker') flags.push('late');
      else {
        record.status = 'open';
        record.closed_at = null;
        this.markAllChanged(state);
      }
    }
    if (event.customer_id && record.customer_id && event.customer_id !== record.customer_id) {
      record.identity_conflicts += 1;
      flags.push('identity_conflict');
    } else if (event.customer_id) {
      this.identify(state, event.customer_id, deanonymizedBy(event.name), now);
    }
    const stored: WebEvent = { ...event, flags };
    addToRecord(record, stored);
    state.arrivals += 1;
    state.counter += 1;
    return [stored.event_id, stored.occurred_at, stored.seq, state.arrivals, state.counter, JSON.stringify(stored)];
  }

  /**
   * Stores a batch's new rows in one statement (one JSON parameter) rather than one per event.
   * Rows placed before a `markAllChanged` of the same batch keep their own, lower `changed`: still
   * above `flushed`, so the next flush writes them all the same.
   */
  private insertEvents(rows: readonly EventRow[]): void {
    if (rows.length === 1) this.sql.exec(INSERT_EVENT, ...rows[0]!);
    else if (rows.length > 1) this.sql.exec(INSERT_EVENTS, JSON.stringify(rows));
  }

  /** Rule 5: the first customer links the session and every event of it, before and after. */
  private identify(state: State, customerId: string, by: DeanonymizedBy, now: number): void {
    if (state.record.customer_id) return;
    state.record.customer_id = customerId;
    state.record.deanonymized_at = new Date(now).toISOString();
    state.record.deanonymized_by = by;
    this.markAllChanged(state);
  }

  private markAllChanged(state: State): void {
    state.counter += 1;
    this.sql.exec('UPDATE events SET changed = ?', state.counter);
  }

  private scheduleFlush(state: State, now: number): void {
    // While D1 is failing, the backoff decides, not the traffic.
    if (state.flushAttempts === 0) state.flushAt = Math.min(state.flushAt ?? Infinity, now + this.settings.flushDelayMs);
  }

  /** Writes what changed since the last write; on failure retries later with backoff, losing nothing. */
  private async flush(state: State, now: number): Promise<void> {
    const upTo = state.counter;
    const rows = this.sql
      .exec<{ body: string; arrival: number }>('SELECT body, arrival FROM events WHERE changed > ? ORDER BY arrival', state.flushed)
      .toArray();
    const record = { ...state.record };
    const events = rows.map((r) => ({ ...attribute(JSON.parse(r.body) as WebEvent, record), arrival: r.arrival }));
    try {
      await writeSession(this.env.DB, record, events);
      state.flushed = upTo;
      state.flushAttempts = 0;
      state.flushAt = state.counter > upTo ? now + this.settings.flushDelayMs : null;
    } catch (error) {
      state.flushAttempts += 1;
      state.flushAt = now + flushBackoffMs(state.flushAttempts);
      console.error(JSON.stringify({ message: 'session flush failed', session: `${record.source_id}:${record.session_id}`, attempts: state.flushAttempts, error: String(error) }));
    }
  }

  /** Persists the state row and re-arms the one alarm to the earliest due task. */
  private async save(): Promise<void> {
    const state = this.state;
    if (!state) return;
    const due = Math.min(
      state.counter > state.flushed && state.flushAt !== null ? state.flushAt : Infinity,
      state.record.status === 'open' ? closesAt(state.record, state.timeoutS) : Infinity,
      expiresAt(state.record, this.settings.retentionDays),
      state.triggers ? nextWatch(state.triggers) : Infinity,
      // Fired triggers the queue did not take: try again shortly.
      state.triggers?.outbox.length ? Date.now() + 10_000 : Infinity,
    );
    state.alarmAt = Number.isFinite(due) ? due : null;
    this.sql.exec('INSERT OR REPLACE INTO state (id, body) VALUES (1, ?)', JSON.stringify(state));
    // Most events leave the due time as it was (the flush already pending): skip that storage write.
    const at = state.alarmAt;
    if (at === this.armed) return;
    this.armed = at;
    try {
      if (at !== null) await this.ctx.storage.setAlarm(at);
      else await this.ctx.storage.deleteAlarm();
    } catch (error) {
      this.armed = undefined;
      throw error;
    }
  }

  /** Puts fired triggers on the queue; what fails stays in the outbox for the alarm to retry. */
  private async sendTriggers(state: State): Promise<void> {
    const outbox = state.triggers?.outbox;
    if (!outbox?.length) return;
    try {
      await this.env.TRIGGERS.sendBatch(outbox.map((body) => ({ body })));
      state.triggers!.outbox = [];
    } catch (error) {
      console.error(JSON.stringify({ message: 'trigger enqueue failed', waiting: outbox.length, error: String(error) }));
    }
  }

  private has(name: string): boolean {
    return this.sql.exec("SELECT 1 FROM events WHERE body ->> '$.name' = ? LIMIT 1", name).toArray().length > 0;
  }

  /** Rule 7: an anonymous session past retention leaves nothing behind in this object. */
  private async purge(): Promise<void> {
    await this.ctx.storage.deleteAll();
    this.state = null;
    this.armed = undefined;
    this.migrate();
  }

  private migrate(): void {
    this.sql.exec(SCHEMA);
    const row = this.sql.exec<{ version: number }>('SELECT version FROM schema_version').toArray()[0];
    if (!row) this.sql.exec('INSERT INTO schema_version (version) VALUES (?)', SCHEMA_VERSION);
  }
}
