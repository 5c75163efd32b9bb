import { DurableObject } from 'cloudflare:workers';
import { tunables } from '../config';
import { LIMITS } from '../events/limits';
import type { WebEvent } from '../events/schema';
import type { DeanonymizedBy, OrderCursor, SessionRecord } from '../events/session-record';
import * as feed from '../monitor/feed';
import { lakeBatches, lakeSessionRecord, tombstone } from '../storage/lake';
import { sharedOf } from '../storage/records';
import type { ActiveRule } from '../triggers/rules';
import { fireDue, newTriggerState, onClose, onEvent, type TriggerMessage } from '../triggers/session-triggers';
import { addToRecord, attribute, closesAt, deanonymizedBy, objectExpiresAt, openSession } from './record';
import { commonOf, SessionStorage } from './session-storage';
import { newOutlet, nextAlarm, type SessionState, settled, unreplayable } from './state';
import { WriteOut } from './write-out';

export type IngestStatus = 'accepted' | 'duplicate' | 'session_full';
export interface SessionPage {
  session: SessionRecord;
  events: WebEvent[];
  next: OrderCursor | null;
}

/** Fired triggers put on the queue per call (the queue takes 100 messages per send). */
const SEND_CHUNK = 100;
const SENDS_PER_CALL = 10;

/**
 * One session (`<source_id>:<session_id>`): every event of it passes through here, so ordering,
 * inactivity and de-anonymization are never raced. Events are stored before the call returns;
 * one alarm, re-armed to the earliest due task, writes D1 and the lake, closes the session,
 * fires absence triggers and expires it.
 */
export class SessionObject extends DurableObject<Env> {
  private readonly store = new SessionStorage(this.ctx.storage.sql);
  private readonly settings = tunables(this.env);
  private readonly out = new WriteOut(this.env, this.store, this.settings);
  private state: SessionState | null = null;
  /** The alarm time this instance last set (undefined: unknown, so the next save sets it). */
  private armed: number | null | undefined = undefined;
  /** `unreplayable` of the state as stored (undefined: none, or stale: the next save writes it). */
  private saved: string | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    void ctx.blockConcurrencyWhile(async () => {
      // A new object holds nothing to read.
      if (!this.store.open()) return;
      const state = this.store.readState() as SessionState | null;
      if (!state) return;
      this.store.common = commonOf(state.record, state.shared);
      this.saved = unreplayable(state);
      this.replay(state);
      // The alarm as the runtime holds it: a save that would set it the same sets nothing, and a
      // state that never recorded it (a new session's, from its first event) knows it.
      this.armed = await ctx.storage.getAlarm();
      state.alarmAt ??= this.armed;
      this.state = state;
    });
  }

  /** Applies the events stored after the state was last written, and schedules their writes out. */
  private replay(state: SessionState): void {
    const applied = state.appliedArrival;
    for (const { arrival, event } of this.store.eventsAfter(applied)) addStored(state, event, arrival);
    if (state.appliedArrival !== applied) this.out.schedule(state, Date.now(), 'later');
  }

  /**
   * Stores a batch of this session's events (already normalized), one status per event. `rules`:
   * the source's active trigger rules, null when unknown (D1 down: the session keeps those it had).
   */
  async ingest(events: WebEvent[], timeoutS: number, rules: ActiveRule[] | null = []): Promise<IngestStatus[]> {
    const now = Date.now();
    // A session silent past retention, all of it in the next tiers, starts afresh.
    if (this.state && now >= objectExpiresAt(this.state.record, this.settings.retention) && settled(this.state, this.out.pending(this.state)))
      await this.forget();
    const statuses: IngestStatus[] = [];
    const fired: TriggerMessage[] = [];
    // The event_id decides: a repeat (an earlier batch's, or this one's) is not stored.
    // Arrivals are numbered on from the rows, not from the stored state: an event stored by a call
    // whose state write was lost is not overwritten.
    const { stored, last } = this.store.seen(events.map((e) => e.event_id));
    let arrival = last;
    for (const event of events) {
      if (stored.has(event.event_id)) {
        statuses.push('duplicate');
        continue;
      }
      if (this.state && this.state.record.event_count >= LIMITS.sessionEvents) {
        statuses.push('session_full');
        continue;
      }
      const fresh = !this.state;
      const state = (this.state ??= this.begin(event, timeoutS, now));
      // A new session's first row keeps the state it starts from: it replays from there.
      const carried = this.store.insertEvent(event, ++arrival, fresh ? state : undefined);
      if (fresh) this.saved = carried ? unreplayable(state) : undefined;
      stored.add(event.event_id);
      const applied = this.applyEvent(state, event, arrival, now);
      const active = rules ?? state.triggers?.rules ?? [];
      if (active.length || state.triggers?.rules.length) {
        const triggers = (state.triggers ??= newTriggerState());
        triggers.rules = active;
        onEvent(triggers, applied, state.record, now, fired);
      }
      statuses.push('accepted');
    }
    const state = this.state;
    if (state && statuses.includes('accepted')) {
      this.store.addToOutbox(fired);
      state.timeoutS = timeoutS;
      const writeNow = this.out.schedule(state, now);
      // Most events only add to the record: the stored state can wait (replay).
      await this.save();
      if (fired.length) {
        await this.sendOutbox();
        await this.save(); // the queue took them: no retry is due
      }
      if (writeNow) this.writeNow(state);
    }
    return statuses;
  }

  /** A new session's state, from its first event; its events' rows leave out what they share with it. */
  private begin(event: WebEvent, timeoutS: number, now: number): SessionState {
    const state = newState(event, timeoutS, now);
    this.store.common = commonOf(state.record, state.shared);
    return state;
  }

  /** Links the session to a customer from outside its events (a campaign link: docs/design.md, rule 6). */
  async linkCustomer(customerId: string, by: DeanonymizedBy): Promise<SessionRecord | null> {
    const state = this.state;
    if (!state) return null;
    this.identify(state, customerId, by, Date.now());
    const writeNow = this.out.schedule(state, Date.now());
    await this.save();
    if (writeNow) this.writeNow(state);
    return state.record;
  }

  /** A page of the session's events in session order, attributed as D1 will have them; null for no session. */
  read(after?: OrderCursor, limit = 1000): SessionPage | null {
    const state = this.state;
    if (!state) return null;
    const page = this.store.eventsInOrder(after, limit);
    return { session: state.record, events: page.events.map((e) => attribute(e, state.record)), next: page.next };
  }

  /** The events of these ids (a trigger's, for its webhook), attributed. */
  eventsById(ids: string[]): WebEvent[] {
    const state = this.state;
    return state ? this.store.eventsById(ids).map((e) => attribute(e, state.record)) : [];
  }

  /**
   * An erasure: the lake gets a tombstone of each event first (its next version, `erased`, its
   * contents gone), so lake readers drop them too; then everything the object holds goes.
   * Returns the events it held, or null when it holds no session (gone after its days: D1 and
   * the lake have it). A lake that refuses makes this throw: nothing is deleted yet.
   */
  async erase(): Promise<number | null> {
    await this.out.writing; // a write out under way would put back what D1 just lost
    const state = this.state;
    if (!state) return null;
    await this.sendTombstones(state, this.store.eventsAfter(0), async () => {
      await this.out.lakeSessions?.send([lakeSessionRecord(state.record, state.incarnation, state.version + 1, new Date().toISOString(), true)]);
    });
    return this.forget();
  }

  /**
   * An erasure of a customer this session does not belong to: the events that name them (an
   * identity conflict, a claim) go, after their tombstones reached the lake. Returns how many.
   */
  async eraseEventsOf(customerId: string): Promise<number> {
    await this.out.writing;
    const state = this.state;
    if (!state) return 0;
    const naming = this.store.eventsNaming(customerId);
    if (!naming.length) return 0;
    await this.sendTombstones(state, naming);
    this.store.deleteEvents(naming.map((r) => r.arrival));
    state.record.event_count -= naming.length;
    state.version += 1;
    this.saved = undefined; // the stored state counts events that are gone: no replay brings that back
    await this.save();
    return naming.length;
  }

  /**
   * Erased events' last version to the lake, when there is one: a tombstone each, for lake readers
   * to drop them; then `after` (the session's own tombstone). Should a send fail, nothing is
   * erased, and every event goes to the lake again two versions up, above the tombstones that did
   * get there: a reader keeps them (a failed erasure left tombstones of live events before).
   */
  private async sendTombstones(state: SessionState, rows: { arrival: number; event: WebEvent }[], after?: () => Promise<void>): Promise<void> {
    const lake = this.out.lake;
    try {
      const erasedAt = new Date().toISOString();
      if (lake) for (const batch of lakeBatches(rows.map((r) => tombstone(r.event, state.rewrites + 1, erasedAt)))) await lake.send(batch);
      await after?.();
    } catch (error) {
      state.rewrites += 2;
      state.lake.arrival = 0;
      // Not as version 0 (the tombstone's is above it): as the session's rewrites, like an event the lake has seen.
      state.lakeSeen = Math.max(state.lakeSeen, ...rows.map((r) => r.arrival));
      await this.save();
      throw error;
    }
  }

  /** Deletes everything the object holds (retention, once the next tiers hold it all; or an erasure). */
  private async forget(): Promise<number> {
    const held = this.state?.record.event_count ?? 0;
    await this.ctx.storage.deleteAll();
    this.state = null;
    this.armed = undefined;
    this.saved = undefined;
    this.store.forgot();
    return held;
  }

  override async alarm(): Promise<void> {
    this.armed = undefined; // a running alarm is no longer armed
    await this.out.writing; // a write out under way first: this run sees what it did
    const state = this.state;
    if (!state) return;
    const now = Math.max(Date.now(), state.alarmAt ?? 0);
    // docs/design.md rules 7 and 8: nothing is deleted that the next tiers lack; while a write fails, the session stays.
    if (now >= objectExpiresAt(state.record, this.settings.retention) && settled(state, this.out.pending(state))) {
      await this.forget();
      return;
    }
    const fired: TriggerMessage[] = [];
    const closeAt = closesAt(state.record, state.timeoutS);
    const closing = state.record.status === 'open' && now >= closeAt;
    if (closing) {
      state.record.status = 'closed';
      state.record.closed_at = new Date(closeAt).toISOString();
      state.version += 1;
      // D1 gets the closed session now, and the lake anything it lacks with it (unless backing off).
      if (!state.d1.attempts) state.d1.at = now;
      if (this.out.lakeLacks(state) && !state.lake.attempts) state.lake.at = now;
      if (state.triggers) onClose(state.triggers, state.record, now, (name) => this.store.hasEventNamed(name), fired);
    }
    if (state.triggers) fireDue(state.triggers, state.record, now, fired);
    this.store.addToOutbox(fired);
    // Triggers fired here are saved before any call out: a run again would fire them again. A
    // close alone is decided the same way again by a run again (an alarm that did not finish is
    // run again by the runtime), so it is saved once, at the end (docs/cost.md).
    if (fired.length) await this.save();
    await this.out.due(state, now);
    await this.sendOutbox();
    // An alarm that fired early (its due time had moved later) changed nothing: it re-arms only.
    await this.save();
    this.ctx.waitUntil(feed.flushMonitors(this.env));
  }

  /** Applies a new event, stored as it came at `arrival`, to the session; what it gains (flags, a demoted customer) is stored too. Returns the event as stored. */
  private applyEvent(state: SessionState, event: WebEvent, arrival: number, now: number): WebEvent {
    const record = state.record;
    const flags = [...event.flags];
    if (record.status === 'closed') {
      // Rule 4 (docs/design.md): a tracker retry lands late in the closed session; the partner's
      // channels re-open it. Re-opening changes the session, not its events: they are not written again.
      if (event.channel === 'tracker') flags.push('late');
      else {
        record.status = 'open';
        record.closed_at = null;
      }
    }
    let customer = event.customer_id;
    let claim = event.claimed_customer_id;
    if (customer && customer !== record.customer_id && state.partner && event.channel !== 'api') {
      // A public key's customer, proven or not, never changes a session a secret key wrote to
      // (its id may be a server's, guessable one): a claim that links nothing (docs/security.md).
      claim = customer;
      customer = null;
      flags.push('identity_not_linked');
    } else if (customer && record.customer_id && customer !== record.customer_id) {
      record.identity_conflicts += 1;
      flags.push('identity_conflict');
    } else if (customer) {
      this.identify(state, customer, deanonymizedBy(event.name), now);
    }
    const stored: WebEvent = flags.length === event.flags.length ? event : { ...event, customer_id: customer, claimed_customer_id: claim, flags };
    if (stored !== event) this.store.replaceEvent(arrival, stored);
    addStored(state, stored, arrival);
    return stored;
  }

  /** Rule 5 (docs/design.md): the first customer links the session and every event of it, before and after. */
  private identify(state: SessionState, customerId: string, by: DeanonymizedBy, now: number): void {
    if (state.record.customer_id) return;
    state.record.customer_id = customerId;
    state.record.deanonymized_at = new Date(now).toISOString();
    state.record.deanonymized_by = by;
    // Every event is attributed anew: D1 gets them all again, and the lake a new version of each.
    state.version += 1;
    state.d1.arrival = 0;
    state.lake.arrival = 0;
    state.rewrites += 1;
  }

  /** Writes out after the answer (`WriteOut.now`), then saves what it must. */
  private writeNow(state: SessionState): void {
    this.out.now(
      state,
      () => this.state,
      () => this.save(),
    );
  }

  /**
   * Re-arms the one alarm to the earliest due task, and writes the state when what a restart
   * must find stored changed since it was (`unreplayable`, state.ts: the one save decision); what
   * else changed, the stored events replay (see `replay`).
   */
  private async save(): Promise<void> {
    const state = this.state;
    if (!state) return;
    const kept = unreplayable(state);
    const writeRow = kept !== this.saved;
    const due = nextAlarm(state, this.settings.retention, Date.now(), this.out.pending(state));
    // What only puts the due time later (an event, for an open session's close) leaves the alarm
    // where it is: when it fires early, it finds nothing due and re-arms itself (docs/cost.md).
    const armed = this.armed;
    const keep = typeof armed === 'number' && (due === null || due >= armed);
    if (keep && !writeRow) return;
    const at = keep ? armed : due;
    state.alarmAt = at;
    if (writeRow) {
      this.store.writeState(state);
      this.saved = kept;
    }
    if (at === armed) return;
    this.armed = at;
    try {
      // A due time already past fires at once (setAlarm refuses times before the epoch).
      if (at !== null) await this.ctx.storage.setAlarm(Math.max(at, Date.now()));
      else await this.ctx.storage.deleteAlarm();
    } catch (error) {
      this.armed = undefined;
      throw error;
    }
  }

  /** Puts fired triggers on the queue, oldest first, in sends the queue accepts; what fails waits for the alarm. */
  private async sendOutbox(): Promise<void> {
    if (this.store.outboxSize() === 0) return;
    for (let i = 0; i < SENDS_PER_CALL; i++) {
      const head = this.store.outboxHead(SEND_CHUNK);
      if (!head.length) return;
      try {
        await this.env.TRIGGERS.sendBatch(head.map(({ message }) => ({ body: message })));
      } catch (error) {
        console.error(JSON.stringify({ message: 'trigger enqueue failed', waiting: this.store.outboxSize(), error: String(error) }));
        return;
      }
      this.store.removeFromOutbox(head.at(-1)!.id);
    }
  }
}

/** What a stored event adds to its session's state, as it comes and when replayed: the record, the marks, the counters. */
function addStored(state: SessionState, event: WebEvent, arrival: number): void {
  addToRecord(state.record, event);
  if (event.channel === 'api') state.partner = true;
  state.version += 1;
  state.appliedArrival = arrival;
}

function newState(event: WebEvent, timeoutS: number, now: number): SessionState {
  return {
    record: openSession(event),
    incarnation: now,
    timeoutS,
    version: 0,
    appliedArrival: 0,
    flushedVersion: 0,
    rewrites: 0,
    d1: newOutlet(),
    lake: newOutlet(),
    lakeSeen: 0,
    shared: sharedOf(event),
    alarmAt: null,
  };
}
