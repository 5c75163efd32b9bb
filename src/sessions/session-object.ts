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
import { migrateStorage } from './storage-schema';

export type IngestStatus = 'accepted' | 'duplicate';
export interface SessionView {
  session: SessionRecord;
  events: WebEvent[];
}

/**
 * What the object keeps beside its events, in one row. The row is written when something other
 * than the events' own effects changed; an event that only adds to the record (`addToRecord`)
 * leaves the row behind, and the constructor replays the events after `applied` onto it.
 */
interface State {
  record: SessionRecord;
  timeoutS: number;
  /** Bumped by every change. */
  counter: number;
  /** The last arrival applied to this state (absent in rows written before replay existed: all are). */
  applied?: number;
  /** The counter value D1 holds everything up to. */
  flushed: number;
  /** D1 holds the events up to this arrival (absent in rows of schema v1: every event is written again once). */
  flushedArrivals?: number;
  /** The counter value of the last change to every event (a customer linked, a reopening): above `flushed`, the next flush writes them all. */
  rewriteAt?: number;
  flushAttempts: number;
  /** When the next D1 write is due (ms), null when nothing waits. */
  flushAt: number | null;
  /** When the alarm is armed for: an alarm run early (a test's) acts as at that time. */
  alarmAt: number | null;
  /** Campaign triggers of this session (absent in rows written before triggers existed). */
  triggers?: TriggerState;
}

const SESSION_ORDER = "ORDER BY body ->> '$.occurred_at', body ->> '$.seq' NULLS LAST, arrival";
// SQLite numbers the arrival (the rowid: one above the highest); a repeated event_id inserts nothing and returns no row.
const INSERT_EVENT = 'INSERT INTO events (event_id, body) VALUES (?, ?) ON CONFLICT (event_id) DO NOTHING RETURNING arrival';

/** What of a state the events cannot replay: when it changes, the state row must be written. */
const structure = (s: State) =>
  `${s.record.customer_id}|${s.record.status}|${s.record.identity_conflicts}|${s.timeoutS}|${s.flushAt}|${s.rewriteAt}|${s.applied === undefined}`;

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
      migrateStorage(this.sql);
      const row = this.sql.exec<{ body: string }>('SELECT body FROM state WHERE id = 1').toArray()[0];
      this.state = row ? (JSON.parse(row.body) as State) : null;
      if (this.state) this.replay(this.state);
    });
  }

  /** Applies the events stored after the state row was last written: what `place` did to it that was not saved. */
  private replay(state: State): void {
    if (state.applied === undefined) return;
    const rows = this.sql.exec<{ arrival: number; body: string }>('SELECT arrival, body FROM events WHERE arrival > ? ORDER BY arrival', state.applied);
    for (const row of rows) {
      addToRecord(state.record, JSON.parse(row.body) as WebEvent);
      state.counter += 1;
      state.applied = row.arrival;
    }
  }

  /** Stores a batch of this session's events (already normalized), one status per event. */
  async ingest(events: WebEvent[], timeoutS: number, rules: ActiveRule[] = []): Promise<IngestStatus[]> {
    const now = Date.now();
    if (this.state && now >= expiresAt(this.state.record, this.settings.retentionDays)) await this.purge();
    const before = this.state && structure(this.state);
    const statuses: IngestStatus[] = [];
    let accepted = 0;
    for (const event of events) {
      // The unique event_id decides: a repeat (an earlier batch's, or this one's) is not stored.
      const inserted = this.sql.exec<{ arrival: number }>(INSERT_EVENT, event.event_id, JSON.stringify(event)).toArray()[0];
      if (!inserted) {
        statuses.push('duplicate');
        continue;
      }
      accepted += 1;
      this.state ??= { record: openSession(event), timeoutS, counter: 0, flushed: 0, flushedArrivals: 0, flushAttempts: 0, flushAt: null, alarmAt: null };
      this.place(this.state, event, inserted.arrival, now);
      if (rules.length || this.state.triggers?.rules.length) {
        const triggers = (this.state.triggers ??= newTriggerState());
        triggers.rules = rules;
        onEvent(triggers, event, this.state.record, now);
      }
      statuses.push('accepted');
    }
    if (this.state && accepted) {
      await this.sendTriggers(this.state);
      this.state.timeoutS = timeoutS;
      this.scheduleFlush(this.state, now);
      // Most events only add to the record, with a flush already pending: the row can wait (replay).
      await this.save(!before || this.state.triggers !== undefined || structure(this.state) !== before);
    }
    return statuses;
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

  /** Applies a new event, stored as it came at `arrival`, to the session; flags it gains are stored too. */
  private place(state: State, event: WebEvent, arrival: number, now: number): void {
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
    const stored: WebEvent = flags.length === event.flags.length ? event : { ...event, flags };
    if (stored !== event) this.sql.exec('UPDATE events SET body = ? WHERE arrival = ?', JSON.stringify(stored), arrival);
    addToRecord(record, stored);
    state.counter += 1;
    state.applied = arrival;
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
    state.rewriteAt = state.counter += 1;
  }

  private scheduleFlush(state: State, now: number): void {
    // While D1 is failing, the backoff decides, not the traffic.
    if (state.flushAttempts === 0) state.flushAt = Math.min(state.flushAt ?? Infinity, now + this.settings.flushDelayMs);
  }

  /** Writes what changed since the last write; on failure retries later with backoff, losing nothing. */
  private async flush(state: State, now: number): Promise<void> {
    const upTo = state.counter;
    // Every event when one change touched them all since the last write, else the new ones.
    const after = (state.rewriteAt ?? 0) > state.flushed ? 0 : (state.flushedArrivals ?? 0);
    const rows = this.sql
      .exec<{ body: string; arrival: number }>('SELECT body, arrival FROM events WHERE arrival > ? ORDER BY arrival', after)
      .toArray();
    const upToArrival = rows.at(-1)?.arrival ?? after;
    const record = { ...state.record };
    const events = rows.map((r) => ({ ...attribute(JSON.parse(r.body) as WebEvent, record), arrival: r.arrival }));
    try {
      await writeSession(this.env.DB, record, events);
      state.flushed = upTo;
      state.flushedArrivals = upToArrival;
      state.flushAttempts = 0;
      state.flushAt = state.counter > upTo ? now + this.settings.flushDelayMs : null;
    } catch (error) {
      state.flushAttempts += 1;
      state.flushAt = now + flushBackoffMs(state.flushAttempts);
      console.error(JSON.stringify({ message: 'session flush failed', session: `${record.source_id}:${record.session_id}`, attempts: state.flushAttempts, error: String(error) }));
    }
  }

  /**
   * Persists the state row and re-arms the one alarm to the earliest due task. Without `persist`,
   * the row is written only when the alarm moves (what changed is replayable from the events).
   */
  private async save(persist = true): Promise<void> {
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
    if (!persist && state.alarmAt === this.armed) return;
    this.sql.exec('INSERT INTO state (id, body) VALUES (1, ?1) ON CONFLICT (id) DO UPDATE SET body = ?1', JSON.stringify(state));
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
    migrateStorage(this.sql);
  }
}
